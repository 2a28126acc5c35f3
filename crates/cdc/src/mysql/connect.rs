//! Connections to a MySQL/MariaDB server from a `mysql://user:pass@host:port/db` URL.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

/// A server and the database whose tables a source or a loader reads or writes.
#[derive(Clone, Debug)]
pub struct Database {
    opts: Opts,
    /// The database (schema) of the URL's path.
    pub dbname: String,
}

impl Database {
    /// Parses `mysql://…/DB`; an error says what is wrong with the URL.
    pub fn parse(url: &str) -> Result<Database, String> {
        if !url.starts_with("mysql://") {
            return Err(format!("'{url}' is not a mysql:// URL"));
        }
        let opts = Opts::from_url(url).map_err(|e| format!("'{url}': {e}"))?;
        let dbname = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("'{url}' names no database (mysql://HOST/DB)"))?
            .to_string();
        Ok(Database { opts, dbname })
    }

    /// A connection whose session speaks UTC and utf8mb4, so that values read as text match
    /// the binlog's.
    pub async fn connect(&self) -> Result<Conn, String> {
        let mut conn = Conn::new(self.opts.clone()).await.map_err(|e| {
            format!(
                "connecting to MySQL at {}:{}: {e}",
                self.opts.ip_or_hostname(),
                self.opts.tcp_port()
            )
        })?;
        conn.query_drop("SET time_zone = '+00:00', NAMES utf8mb4")
            .await
            .map_err(|e| format!("setting up the MySQL session: {e}"))?;
        Ok(conn)
    }

    /// A connection without the session settings, for the binlog stream.
    pub async fn connect_plain(&self) -> Result<Conn, String> {
        Conn::new(self.opts.clone())
            .await
            .map_err(|e| format!("connecting to MySQL: {e}"))
    }
}

/// Whether the server is MariaDB (versions 10 and later; MySQL's are 5, 8 and 9).
pub fn is_mariadb(conn: &Conn) -> bool {
    conn.server_version().0 >= 10
}

/// A query's rows, each as its columns' values, or an error naming `what`.
pub async fn rows(
    conn: &mut Conn,
    sql: &str,
    what: &str,
) -> Result<Vec<Vec<mysql_async::Value>>, String> {
    let rows: Vec<mysql_async::Row> = conn.query(sql).await.map_err(|e| format!("{what}: {e}"))?;
    Ok(rows.into_iter().map(mysql_async::Row::unwrap).collect())
}

/// A value read as text (the text protocol sends every value as its bytes).
pub fn text(value: &mysql_async::Value) -> Option<String> {
    match value {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}
