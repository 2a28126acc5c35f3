//! The snapshot's chunk plan read from PostgreSQL's statistics: for integer, text and composite
//! keys the planned key ranges hold every row exactly once; an empty table, a table never
//! analysed and a small one are copied whole. Needs PostgreSQL at `$SLUICE_TEST_POSTGRES`
//! (skipped when absent, unless `SLUICE_REQUIRE_SERVICES=1`).

mod common;

use sluice_cdc::pg::catalog;
use sluice_cdc::pg::chunks::{self, Split};
use tokio_postgres::{Client, NoTls};

async fn client() -> Option<Client> {
    let url = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match tokio_postgres::connect(&url, NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            Some(client)
        }
        Err(_) => {
            sluice_engine::testing::skip(&format!("PostgreSQL not reachable at {url}"));
            None
        }
    }
}

/// A new table of `columns` filled by `fill` (an `INSERT` with `{t}` for the table's name),
/// analysed unless `analyse` is false (autovacuum then leaves it alone too).
async fn table(client: &Client, columns: &str, fill: &str, analyse: bool) -> String {
    let t = common::unique("chunk_plan");
    let options = if analyse {
        ""
    } else {
        " WITH (autovacuum_enabled = false)"
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE {t} ({columns}){options}; {}; {}",
            fill.replace("{t}", &t),
            if analyse {
                format!("ANALYZE {t}")
            } else {
                String::new()
            }
        ))
        .await
        .unwrap();
    t
}

/// The plan of `t` in at most `count` chunks, splitting from `min_rows` rows.
async fn plan(client: &Client, t: &str, min_rows: u64, count: usize) -> Split {
    let shape = catalog::shape(client, "test", &format!("public.{t}"))
        .await
        .unwrap();
    chunks::split(client, &shape, min_rows, count)
        .await
        .unwrap()
}

/// The rows of `t` held by no range or by several, and the rows of each range.
async fn placement(client: &Client, t: &str, split: &Split) -> (i64, Vec<i64>) {
    let column = split.column.clone().unwrap_or_default();
    let predicates: Vec<String> = split.ranges.iter().map(|r| r.predicate(&column)).collect();
    let holders = predicates
        .iter()
        .map(|p| format!("(CASE WHEN {p} THEN 1 ELSE 0 END)"))
        .collect::<Vec<_>>()
        .join(" + ");
    let misplaced = client
        .query_one(
            &format!("SELECT count(*) FROM {t} WHERE {holders} <> 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut sizes = Vec::with_capacity(predicates.len());
    for p in &predicates {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {t} WHERE {p}"), &[])
            .await
            .unwrap()
            .get(0);
        sizes.push(n);
    }
    (misplaced, sizes)
}

async fn drop_table(client: &Client, t: &str) {
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {t}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn integer_keys_split_into_ranges_holding_every_row_once() {
    let Some(c) = client().await else { return };
    let t = table(
        &c,
        "id bigint PRIMARY KEY, v text",
        "INSERT INTO {t} SELECT g * 3, 'v' || g FROM generate_series(1, 20000) g",
        true,
    )
    .await;
    let split = plan(&c, &t, 1000, 8).await;
    assert_eq!(split.column.as_deref(), Some("id"));
    assert_eq!(split.ranges.len(), 8, "{split:?}");
    let (misplaced, sizes) = placement(&c, &t, &split).await;
    assert_eq!(misplaced, 0, "{split:?}");
    assert!(sizes.iter().all(|&n| n > 0), "an empty range: {sizes:?}");
    assert_eq!(sizes.iter().sum::<i64>(), 20000);
    drop_table(&c, &t).await;
}

#[tokio::test]
async fn text_keys_with_quotes_and_accents_split_in_the_columns_collation() {
    let Some(c) = client().await else { return };
    // An ICU collation, when the server has one, orders unlike the database's default.
    let collate = match c
        .query_opt(
            "SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'",
            &[],
        )
        .await
        .unwrap()
    {
        Some(_) => " COLLATE \"und-x-icu\"",
        None => "",
    };
    let t = table(
        &c,
        &format!("name text{collate} PRIMARY KEY"),
        "INSERT INTO {t} SELECT (ARRAY['o''brien ', 'Zoë ', 'abc ', 'ábc ', 'a b '])[g % 5 + 1] || g
         FROM generate_series(1, 10000) g",
        true,
    )
    .await;
    let split = plan(&c, &t, 1000, 6).await;
    assert_eq!(split.column.as_deref(), Some("name"));
    assert!(split.ranges.len() > 1, "{split:?}");
    let (misplaced, sizes) = placement(&c, &t, &split).await;
    assert_eq!(misplaced, 0, "{split:?}");
    assert_eq!(sizes.iter().sum::<i64>(), 10000);
    drop_table(&c, &t).await;
}

#[tokio::test]
async fn composite_keys_split_on_the_keys_leading_column() {
    let Some(c) = client().await else { return };
    // The key's leading column is the second in the table, and repeats.
    let t = table(
        &c,
        "n int, region text, v text, PRIMARY KEY (region, n)",
        "INSERT INTO {t} SELECT g, 'r' || (g % 12), 'v' FROM generate_series(1, 12000) g",
        true,
    )
    .await;
    let split = plan(&c, &t, 1000, 8).await;
    assert_eq!(split.column.as_deref(), Some("region"));
    assert!(split.ranges.len() > 1, "{split:?}");
    let (misplaced, sizes) = placement(&c, &t, &split).await;
    assert_eq!(misplaced, 0, "{split:?}");
    assert_eq!(sizes.iter().sum::<i64>(), 12000);
    drop_table(&c, &t).await;
}

#[tokio::test]
async fn empty_unanalysed_and_small_tables_are_copied_whole() {
    let Some(c) = client().await else { return };
    let columns = "id int PRIMARY KEY";
    let empty = table(&c, columns, "SELECT 1", true).await;
    let unanalysed = table(
        &c,
        columns,
        "INSERT INTO {t} SELECT g FROM generate_series(1, 5000) g",
        false,
    )
    .await;
    let small = table(
        &c,
        columns,
        "INSERT INTO {t} SELECT g FROM generate_series(1, 5000) g",
        true,
    )
    .await;
    for (t, min_rows) in [(&empty, 0), (&unanalysed, 0), (&small, 100_000)] {
        let split = plan(&c, t, min_rows, 8).await;
        assert_eq!(split, Split::whole(), "{t}");
        assert_eq!(placement(&c, t, &split).await.0, 0);
    }
    // One chunk asked: whole, even when the statistics would split it.
    assert_eq!(plan(&c, &small, 0, 1).await, Split::whole());
    assert!(plan(&c, &small, 0, 8).await.ranges.len() > 1);
    for t in [empty, unanalysed, small] {
        drop_table(&c, &t).await;
    }
}
