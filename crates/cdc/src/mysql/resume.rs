//! Opening a session's binlog stream where the source stopped: after its stored GTID state
//! where the server has GTIDs, so that purged binlog files (or another server of the same
//! GTID history) do not matter, else at its stored file and offset. When neither can be
//! resumed the error names the source and the position, and the source needs a new snapshot.

use super::catalog;
use super::connect::{Database, is_mariadb};
use super::gtid::GtidState;
use super::run::server_id;
use super::stream::{binlog_error, next};
use crate::position::{binlog_base, binlog_offset, binlog_sequence};
use crate::source::{Failure, Fatal};
use mysql_async::binlog::events::EventData;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn};
use std::collections::BTreeMap;

/// MySQL's (and MariaDB's) error for a binlog position the server cannot send from.
const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;

/// Where a session's stream starts: the last stored transaction boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// The binlog file of the position.
    pub file: String,
    /// The position (file and offset, see [`crate::position`]).
    pub position: u64,
    /// The GTID state at the position as the server writes it, when known.
    pub gtid: Option<String>,
    /// Each table's snapshot position: its changes logged before it are in the snapshot.
    pub cuts: BTreeMap<String, u64>,
}

/// A binlog stream opened, and where its events begin.
pub struct Opened {
    /// The stream, past the server's first (ROTATE) event.
    pub stream: BinlogStream,
    /// The file the server sends from.
    pub file: String,
    /// The offset in it of the first event to come.
    pub offset: u64,
    /// The GTID state the stream goes on from, when known.
    pub gtid: Option<GtidState>,
    /// Whether the server found the stream's start by its GTID state.
    pub by_gtid: bool,
}

/// What a binlog dump starts from.
enum DumpFrom<'a> {
    Gtid(&'a GtidState),
    File(&'a str, u64),
}

/// Opens the stream of `source` at `start`: by GTID where the server has GTIDs and the state
/// is known, falling back to the stored file and offset when the server refuses the GTID
/// state but still has the file.
pub(crate) async fn open(
    db: &Database,
    source: &str,
    sql: &mut Conn,
    start: &Start,
) -> Result<Opened, Failure> {
    let mariadb = is_mariadb(sql);
    let file = start.file.as_str();
    let offset = binlog_offset(start.position);
    let kept = catalog::binlog_files(sql).await?.iter().any(|f| f == file);
    let text = match &start.gtid {
        Some(text) => Some(text.clone()),
        // MariaDB tells the GTID state of a position it still has.
        None if mariadb && kept => catalog::gtid_at(sql, file, offset).await?,
        None => None,
    };
    let gtid = text
        .map(|t| GtidState::parse(&t, mariadb))
        .transpose()
        .map_err(|e| {
            Failure::Fatal(Fatal(format!(
                "the stored GTID state of source {source} cannot be read ({e}); take a new snapshot with `sluice cdc resnapshot {source}`"
            )))
        })?;
    if let Some(state) = &gtid
        && catalog::gtids_enabled(sql).await
    {
        match dump(db, source, mariadb, DumpFrom::Gtid(state)).await? {
            Ok((stream, served, first)) => {
                return Ok(Opened {
                    stream,
                    file: served,
                    offset: first,
                    gtid,
                    by_gtid: true,
                });
            }
            Err(refused) if kept => {
                tracing::warn!(source, gtid = %state, error = %refused, "the server cannot resume by GTID; resuming at the stored binlog file and offset");
            }
            Err(refused) => {
                let refused = Some((state, refused.as_str()));
                return Err(Failure::Fatal(gone(source, file, offset, refused)));
            }
        }
    }
    if !kept {
        return Err(Failure::Fatal(gone(source, file, offset, None)));
    }
    match dump(db, source, mariadb, DumpFrom::File(file, offset)).await? {
        Ok((stream, served, first)) => Ok(Opened {
            stream,
            file: served,
            offset: first,
            gtid,
            by_gtid: false,
        }),
        Err(refused) => Err(Failure::Retry(format!(
            "source {source} resuming at {file}:{offset}: {}",
            binlog_error(&refused)
        ))),
    }
}

/// Why `source` cannot resume: the binlog `file` of its stored position (at `offset`) was
/// purged, and the server refused its GTID position (with the server's words) or it has none.
fn gone(source: &str, file: &str, offset: u64, refused: Option<(&GtidState, &str)>) -> Fatal {
    let gtid = match refused {
        Some((state, error)) => format!("the server refused its GTID position {state} ({error})"),
        None => "it has no GTID position to resume from (none stored, or the server has no GTIDs)"
            .into(),
    };
    Fatal(format!(
        "source {source} cannot resume: {gtid}, and the binlog file {file} of its stored position {file}:{offset} was purged; changes after it may be missing; take a new snapshot with `sluice cdc resnapshot {source}`"
    ))
}

/// Asks the server for its binlog from `from`; the stream with the file and offset its first
/// (ROTATE) event names, or the server's refusal of the position.
async fn dump(
    db: &Database,
    source: &str,
    mariadb: bool,
    from: DumpFrom<'_>,
) -> Result<Result<(BinlogStream, String, u64), String>, String> {
    let mut conn: Conn = db.connect_plain().await?;
    let setup = |e: mysql_async::Error| format!("setting up the binlog session: {e}");
    // Heartbeats every second: a dead connection shows, and the server position is reported.
    let mut session = vec!["SET @master_heartbeat_period = 1000000000".to_string()];
    if mariadb {
        // MariaDB sends its GTID events as they are (else it rewrites them as BEGIN).
        session.push("SET @mariadb_slave_capability = 4".into());
    }
    let request = BinlogStreamRequest::new(server_id(source));
    let request = match from {
        DumpFrom::Gtid(state) if mariadb => {
            // The state's text is digits, dashes and commas only.
            session.push(format!("SET @slave_connect_state = '{state}'"));
            session.push("SET @slave_gtid_strict_mode = 0".into());
            session.push("SET @slave_gtid_ignore_duplicates = 0".into());
            request.with_filename(b"").with_pos(4u64)
        }
        DumpFrom::Gtid(state) => request
            .with_gtid()
            .with_gtid_set(state.sids()?)
            .with_filename(b"")
            .with_pos(4u64),
        DumpFrom::File(file, offset) => request.with_filename(file.as_bytes()).with_pos(offset),
    };
    for statement in &session {
        conn.query_drop(statement).await.map_err(setup)?;
    }
    let mut stream = conn
        .get_binlog_stream(request)
        .await
        .map_err(|e| binlog_error(&e.to_string()))?;
    let first = match next(&mut stream).await {
        None => return Err("the binlog stream ended before its first event".into()),
        Some(Err(mysql_async::Error::Server(e)))
            if e.code == ER_MASTER_FATAL_ERROR_READING_BINLOG =>
        {
            return Ok(Err(e.message));
        }
        Some(Err(e)) => return Err(binlog_error(&e.to_string())),
        Some(Ok(event)) => event,
    };
    match first.read_data() {
        Ok(Some(EventData::RotateEvent(r))) => {
            let file = super::stream::rotated_name(r.name_raw());
            Ok(Ok((stream, file, r.position())))
        }
        _ => Err(format!(
            "the server began the binlog stream with an event of type {}, not ROTATE",
            first.header().event_type_raw()
        )),
    }
}

/// Whether the positions of a stream the server sends from `served` go on from `stored`'s
/// (the same binlog, not an earlier file): else the source moved to another server, and its
/// positions start over from the served file.
pub fn same_binlog(stored_file: &str, stored: u64, served: &str, served_at: u64) -> bool {
    binlog_base(stored_file) == binlog_base(served)
        && crate::position::binlog_position(served, served_at)
            .is_ok_and(|p| binlog_sequence(p) >= binlog_sequence(stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::binlog_position;

    #[test]
    fn a_source_that_cannot_resume_says_where_it_stopped_and_what_to_do() {
        let state = GtidState::parse("0-1-42", true).unwrap();
        let refused = gone(
            "orders",
            "mysql-bin.000005",
            1234,
            Some((&state, "the slave state is too old")),
        )
        .0;
        let without = gone("orders", "mysql-bin.000005", 1234, None).0;
        for error in [&refused, &without] {
            assert!(error.starts_with("source orders cannot resume"), "{error}");
            assert!(
                error.contains("mysql-bin.000005:1234 was purged"),
                "{error}"
            );
            assert!(error.contains("`sluice cdc resnapshot orders`"), "{error}");
        }
        assert!(
            refused.contains("refused its GTID position 0-1-42 (the slave state is too old)"),
            "{refused}"
        );
        assert!(without.contains("no GTID position"), "{without}");
    }

    #[test]
    fn a_served_file_of_the_same_binlog_keeps_the_positions() {
        let stored = binlog_position("mysql-bin.000005", 1234).unwrap();
        assert!(same_binlog(
            "mysql-bin.000005",
            stored,
            "mysql-bin.000005",
            4
        ));
        assert!(same_binlog(
            "mysql-bin.000005",
            stored,
            "mysql-bin.000008",
            4
        ));
        assert!(!same_binlog(
            "mysql-bin.000005",
            stored,
            "mysql-bin.000002",
            4
        ));
        assert!(!same_binlog(
            "mysql-bin.000005",
            stored,
            "mariadb-bin.000009",
            4
        ));
    }
}
