//! Durable storage for Sluice: implementations of [`sluice_engine::store::Store`] on SQLite
//! (embedded, one file) and PostgreSQL (shared by processes on many hosts; the default
//! `postgres` feature), and [`open`] to open either from a [`StoreLocation`].

mod codec;
mod migrations;
#[cfg(feature = "postgres")]
pub mod postgres;
mod sqlite;
mod sqlite_objects;
mod sqlite_queues;
#[cfg(feature = "test-support")]
pub mod testing;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use sluice_engine::store::{Store, StoreError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// Where a store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (the `postgres` module describes its parameters).
    Postgres(String),
}

impl StoreLocation {
    /// The same location, with a relative SQLite path taken as relative to `dir`.
    pub fn relative_to(self, dir: &Path) -> StoreLocation {
        match self {
            StoreLocation::Sqlite(path) if path.is_relative() => {
                StoreLocation::Sqlite(dir.join(path))
            }
            other => other,
        }
    }
}

impl FromStr for StoreLocation {
    type Err = String;

    /// `postgres://...` or `postgresql://...` is a PostgreSQL database (its parameters are
    /// checked when this build supports PostgreSQL); `sqlite://PATH` or a plain path is a SQLite
    /// file; any other `SCHEME://` is refused.
    fn from_str(s: &str) -> Result<StoreLocation, String> {
        let scheme = s
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
            });
        match scheme {
            Some("postgres" | "postgresql") => {
                #[cfg(feature = "postgres")]
                postgres::check_url(s)?;
                Ok(StoreLocation::Postgres(s.to_string()))
            }
            Some("sqlite") => match &s["sqlite://".len()..] {
                "" => Err("sqlite:// needs a file path, e.g. sqlite://.sluice/sluice.db".into()),
                path => Ok(StoreLocation::Sqlite(PathBuf::from(path))),
            },
            Some(other) => Err(format!(
                "unsupported store '{other}://': use postgres://USER@HOST:PORT/DB, sqlite://PATH or a file path"
            )),
            None if s.is_empty() => Err("the store location is empty".into()),
            None => Ok(StoreLocation::Sqlite(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for StoreLocation {
    /// The location as given, with a PostgreSQL password left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

/// A URL with the password of its user info and of a `password=` parameter replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Opens (creating or migrating as needed) the store at `location`.
pub fn open(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path)?)),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => Ok(Arc::new(PostgresStore::open(url)?)),
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => Err(StoreError::Unavailable(
            "this build of sluice has no PostgreSQL support (the store crate's `postgres` feature)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_by_scheme() {
        let pg = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(pg.parse(), Ok(StoreLocation::Postgres(pg.into())));
        let pg = "postgresql://u@h/db?schema=s1";
        assert_eq!(pg.parse(), Ok(StoreLocation::Postgres(pg.into())));
        assert_eq!(
            "sqlite:///tmp/x.db".parse(),
            Ok(StoreLocation::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            "data/x.db".parse(),
            Ok(StoreLocation::Sqlite("data/x.db".into()))
        );
        assert!("mysql://h/db".parse::<StoreLocation>().is_err());
        assert!("sqlite://".parse::<StoreLocation>().is_err());
        assert!("".parse::<StoreLocation>().is_err());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_are_checked() {
        for bad in [
            "postgres://h/db?schema=Bad",
            "postgres://h/db?schema=1x",
            "postgres://h/db?nonsense=1",
            "postgres://h/db?sslmode=require",
        ] {
            assert!(bad.parse::<StoreLocation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_a_directory() {
        let dir = Path::new("/project");
        assert_eq!(
            StoreLocation::Sqlite("s.db".into()).relative_to(dir),
            StoreLocation::Sqlite("/project/s.db".into())
        );
        assert_eq!(
            StoreLocation::Sqlite("/abs.db".into()).relative_to(dir),
            StoreLocation::Sqlite("/abs.db".into())
        );
    }

    #[test]
    fn passwords_are_not_displayed() {
        let shown =
            StoreLocation::Postgres("postgres://u:secret@h:5432/db?password=other&schema=s".into())
                .to_string();
        assert_eq!(shown, "postgres://u:***@h:5432/db?password=***&schema=s");
        assert!(!shown.contains("secret") && !shown.contains("other"));
    }
}
