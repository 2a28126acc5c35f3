//! DDL statements of the binlog's QUERY events: which kind Canal names them, and which table
//! they change.

/// A classified statement: Canal's kind and the table it changes (`db`, `table`), when it
/// changes one.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// `CREATE`, `ALTER`, `ERASE`, `RENAME`, `TRUNCATE`, `CINDEX`, `DINDEX` or `QUERY`.
    pub kind: &'static str,
    /// The table's database, when the statement names it (`db.table`).
    pub database: Option<String>,
    /// The table, when the statement is about one.
    pub table: Option<String>,
}

/// The statement's words without its comments (`/* */`, `#` and `-- ` to the end of a line).
fn words(sql: &str) -> Vec<String> {
    let mut text = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        match rest[start..].find("*/") {
            Some(end) => rest = &rest[start + end + 2..],
            None => rest = "",
        }
    }
    text.push_str(rest);
    let text: String = text
        .lines()
        .map(|line| {
            let line = line.trim_start();
            if line.starts_with('#') || line.starts_with("-- ") {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `db.table`, `` `db`.`table` `` or `table` without quotes, split.
fn name(word: &str) -> (Option<String>, String) {
    let unquote = |s: &str| s.trim_matches('`').replace("``", "`");
    match word.split_once("`.`").or_else(|| {
        (!word.starts_with('`') || word.matches('`').count() > 2)
            .then(|| word.split_once('.'))
            .flatten()
    }) {
        Some((db, table)) => (Some(unquote(db)), unquote(table)),
        None => (None, unquote(word)),
    }
}

/// Classifies `sql`; `None` for statements that are not DDL (`BEGIN`, `COMMIT`, DML logged as
/// a statement, `SAVEPOINT`…).
pub fn classify(sql: &str) -> Option<Statement> {
    let words = words(sql);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    let first = upper.first()?.as_str();
    if matches!(
        first,
        "BEGIN"
            | "COMMIT"
            | "ROLLBACK"
            | "SAVEPOINT"
            | "XA"
            | "INSERT"
            | "UPDATE"
            | "DELETE"
            | "REPLACE"
            | "SET"
            | "FLUSH"
            | "ANALYZE"
            | "OPTIMIZE"
    ) {
        return None;
    }
    // The table name after `TABLE [IF [NOT] EXISTS]`.
    let table_after = |at: usize| -> Option<(Option<String>, String)> {
        let mut i = at;
        while i < upper.len()
            && [
                "TABLE",
                "IF",
                "NOT",
                "EXISTS",
                "TEMPORARY",
                "ONLINE",
                "IGNORE",
            ]
            .contains(&upper[i].as_str())
        {
            i += 1;
        }
        words.get(i).map(|w| name(w))
    };
    let position = |w: &str| upper.iter().position(|u| u == w);
    let (kind, target) = match first {
        "CREATE" if upper.iter().take(4).any(|u| u == "TABLE") => {
            ("CREATE", position("TABLE").and_then(table_after))
        }
        "CREATE" if upper.iter().take(4).any(|u| u == "INDEX") => (
            "CINDEX",
            position("ON")
                .and_then(|i| words.get(i + 1))
                .map(|w| name(w)),
        ),
        "ALTER" if upper.iter().take(4).any(|u| u == "TABLE") => {
            ("ALTER", position("TABLE").and_then(table_after))
        }
        "DROP" if upper.iter().take(4).any(|u| u == "TABLE") => {
            ("ERASE", position("TABLE").and_then(table_after))
        }
        "DROP" if is(1, "INDEX") => (
            "DINDEX",
            position("ON")
                .and_then(|i| words.get(i + 1))
                .map(|w| name(w)),
        ),
        "RENAME" => ("RENAME", table_after(1)),
        "TRUNCATE" => ("TRUNCATE", table_after(1)),
        _ => ("QUERY", None),
    };
    let (database, table) = match target {
        Some((db, t)) => (db, Some(t)),
        None => (None, None),
    };
    Some(Statement {
        kind,
        database,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> (&'static str, Option<String>, Option<String>) {
        let s = classify(sql).unwrap();
        (s.kind, s.database, s.table)
    }

    #[test]
    fn kinds_and_tables_as_canal_names_them() {
        assert_eq!(
            of("ALTER TABLE orders ADD COLUMN status VARCHAR(16)"),
            ("ALTER", None, Some("orders".into()))
        );
        assert_eq!(
            of("/* x */ create table if not exists `shop`.`a``b` (id int)"),
            ("CREATE", Some("shop".into()), Some("a`b".into()))
        );
        assert_eq!(
            of("DROP TABLE IF EXISTS `t` /* generated by server */"),
            ("ERASE", None, Some("t".into()))
        );
        assert_eq!(
            of("TRUNCATE TABLE shop.t"),
            ("TRUNCATE", Some("shop".into()), Some("t".into()))
        );
        assert_eq!(
            of("RENAME TABLE a TO b"),
            ("RENAME", None, Some("a".into()))
        );
        assert_eq!(
            of("CREATE INDEX i ON t (a)"),
            ("CINDEX", None, Some("t".into()))
        );
        assert_eq!(of("DROP INDEX i ON t"), ("DINDEX", None, Some("t".into())));
        assert_eq!(of("CREATE DATABASE shop"), ("QUERY", None, None));
        assert_eq!(classify("BEGIN"), None);
        assert_eq!(
            classify("# Dummy event replacing event type 160 that slave cannot handle."),
            None
        );
        assert_eq!(classify("COMMIT"), None);
    }
}
