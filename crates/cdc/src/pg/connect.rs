//! Connections to the source database: ordinary SQL ones (tokio-postgres, no TLS) and the
//! replication one (pgwire-replication), both with the session pinned by
//! [`SESSION_OPTIONS`](super::types::SESSION_OPTIONS).

use super::types::SESSION_OPTIONS;
use pgwire_replication::{Lsn, ReplicationConfig, TlsConfig};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Where a source reads from, parsed from its `postgres://` URL.
#[derive(Clone, Debug)]
pub struct Database {
    config: Config,
    host: String,
    port: u16,
    user: String,
    password: String,
    /// The database name.
    pub dbname: String,
}

impl Database {
    /// Parses `url` (`postgres://[USER[:PASSWORD]@]HOST[:PORT]/DB`); the user defaults to
    /// `$USER`, then `postgres`.
    pub fn parse(url: &str) -> Result<Database, String> {
        let mut config =
            Config::from_str(url).map_err(|e| format!("'{url}' is not a PostgreSQL URL: {e}"))?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "127.0.0.1".into(),
        };
        if config.get_hosts().is_empty() {
            config.host(&host);
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = match config.get_user() {
            Some(u) => u.to_string(),
            None => std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
        };
        config.user(&user);
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let Some(dbname) = config.get_dbname().map(str::to_string) else {
            return Err(format!("'{url}' names no database (postgres://HOST/DB)"));
        };
        config.options(SESSION_OPTIONS);
        config.connect_timeout(Duration::from_secs(10));
        Ok(Database {
            config,
            host,
            port,
            user,
            password,
            dbname,
        })
    }

    /// An ordinary SQL connection; its connection task runs on the current runtime.
    pub async fn connect(&self) -> Result<Client, String> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            format!(
                "connecting to {}:{}/{}: {e}",
                self.host, self.port, self.dbname
            )
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a source connection ended");
            }
        });
        Ok(client)
    }

    /// The replication session's settings for `slot` and `publication`, resuming at `start`
    /// and confirming `start` until told more.
    pub fn replication(&self, slot: &str, publication: &str, start: u64) -> ReplicationConfig {
        let mut config = ReplicationConfig::new(
            self.host.clone(),
            self.user.clone(),
            self.password.clone(),
            self.dbname.clone(),
            slot,
            publication,
        )
        .with_port(self.port)
        .with_tls(TlsConfig::disabled())
        .with_options(SESSION_OPTIONS)
        .with_start_lsn(Lsn::from_u64(start))
        .with_ack_lsn(Lsn::from_u64(start))
        .with_status_interval(Duration::from_secs(1))
        .with_wakeup_interval(Duration::from_secs(5))
        .with_buffer_size(4096)
        .with_application_name(slot);
        config.stop_at_lsn = None;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_with_defaults() {
        let db = Database::parse("postgres://alice:s3cret@db.local:6543/shop").unwrap();
        assert_eq!(
            (db.host.as_str(), db.port, db.user.as_str()),
            ("db.local", 6543, "alice")
        );
        assert_eq!(
            (db.password.as_str(), db.dbname.as_str()),
            ("s3cret", "shop")
        );
        let db = Database::parse("postgres://127.0.0.1/test").unwrap();
        assert_eq!(
            (db.host.as_str(), db.port, db.dbname.as_str()),
            ("127.0.0.1", 5432, "test")
        );
        assert!(
            Database::parse("postgres://127.0.0.1")
                .unwrap_err()
                .contains("names no database")
        );
        assert!(Database::parse("nope://").is_err());
    }
}
