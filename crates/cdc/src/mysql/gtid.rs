//! GTIDs of a binlog source: the GTID of one transaction, read from its event, and the GTID
//! state a stream has reached, as the servers write them: MariaDB's GTID position (the last
//! `domain-server-seq` of each replication domain) and MySQL's GTID set (the transactions of
//! each source server, `uuid:1-42:50`). A stream resumes by its state where the server has
//! GTIDs, which holds where its binlog files do not (purged, or another server of the same
//! history).

use mysql_async::Sid;
use mysql_async::binlog::events::PreviousGtidsEvent;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// MariaDB's GTID event (`GTID_EVENT`, 0xA2), which begins each of its transactions.
pub const MARIADB_GTID_EVENT: u8 = 0xA2;

/// A MariaDB GTID event's flag: the statement commits by itself (DDL), no `XID` follows.
const FL_STANDALONE: u8 = 1;

/// One transaction's GTID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gtid {
    /// MariaDB's `domain-server-seq`.
    Mariadb {
        /// The replication domain.
        domain: u32,
        /// The server that first logged the transaction.
        server: u32,
        /// The transaction's sequence number in its domain.
        seq: u64,
    },
    /// MySQL's `uuid:gno` (`uuid:tag:gno` for a tagged GTID).
    Mysql {
        /// The source server's UUID, lowercase, with its tag after a colon when it has one.
        source: String,
        /// The transaction's number from that source.
        gno: u64,
    },
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gtid::Mariadb {
                domain,
                server,
                seq,
            } => write!(f, "{domain}-{server}-{seq}"),
            Gtid::Mysql { source, gno } => write!(f, "{source}:{gno}"),
        }
    }
}

impl Gtid {
    /// The GTID of a MariaDB GTID event logged by `server` with payload `data` (seq Int64,
    /// domain Int32, flags Int8, little-endian), and whether its statement stands alone (DDL,
    /// no transaction around it); `None` when the payload is too short.
    pub fn from_mariadb_event(server: u32, data: &[u8]) -> Option<(Gtid, bool)> {
        let seq = u64::from_le_bytes(data.get(0..8)?.try_into().ok()?);
        let domain = u32::from_le_bytes(data.get(8..12)?.try_into().ok()?);
        let flags = *data.get(12)?;
        let gtid = Gtid::Mariadb {
            domain,
            server,
            seq,
        };
        Some((gtid, flags & FL_STANDALONE != 0))
    }

    /// The GTID of a MySQL GTID event: its source's UUID (with the tag, if any) and number.
    pub fn mysql(uuid: [u8; 16], tag: Option<&str>, gno: u64) -> Gtid {
        let mut source = uuid_text(uuid);
        if let Some(tag) = tag {
            source = format!("{source}:{tag}");
        }
        Gtid::Mysql { source, gno }
    }
}

/// The GTIDs a stream has passed: what it resumes after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GtidState {
    /// MariaDB's GTID position: by domain, the server and sequence number of its last GTID.
    Mariadb(BTreeMap<u32, (u32, u64)>),
    /// MySQL's GTID set: by source (`uuid` or `uuid:tag`), the numbers passed, as sorted,
    /// disjoint, non-adjacent inclusive ranges.
    Mysql(BTreeMap<String, Vec<(u64, u64)>>),
}

impl GtidState {
    /// Parses the server's text of a GTID state: MariaDB's position (`0-1-42,1-2-7`) when
    /// `mariadb`, else MySQL's set (`uuid:1-5:7,uuid2:1-3`, newlines allowed); empty text is
    /// the empty state. An error says what is wrong with it.
    pub fn parse(text: &str, mariadb: bool) -> Result<GtidState, String> {
        let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
        if mariadb {
            let mut position = BTreeMap::new();
            for entry in entries {
                let (domain, server, seq) = mariadb_entry(entry).ok_or_else(|| {
                    format!("'{entry}' is not a MariaDB GTID (domain-server-seq)")
                })?;
                if position.insert(domain, (server, seq)).is_some() {
                    return Err(format!(
                        "the GTID position '{text}' names domain {domain} twice"
                    ));
                }
            }
            return Ok(GtidState::Mariadb(position));
        }
        let mut set = GtidState::Mysql(BTreeMap::new());
        for entry in entries {
            let mut parts = entry.split(':');
            let uuid = parts.next().unwrap_or_default().to_ascii_lowercase();
            if !is_uuid(&uuid) {
                return Err(format!(
                    "'{entry}' of the GTID set does not begin with a server UUID"
                ));
            }
            let mut source = uuid.clone();
            for part in parts {
                if part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                    source = format!("{uuid}:{part}");
                    continue;
                }
                let (first, last) = range(part).ok_or_else(|| {
                    format!("'{part}' of '{entry}' is not a GTID range (N or N-M)")
                })?;
                set.add_range(&source, first, last);
            }
        }
        Ok(set)
    }

    /// MySQL's GTID set that a `PREVIOUS_GTIDS` event (the first of each MySQL binlog file)
    /// holds: the transactions of the files before it.
    pub fn from_previous_gtids(event: &PreviousGtidsEvent<'_>) -> GtidState {
        let mut set = GtidState::Mysql(BTreeMap::new());
        for sid in event.sids() {
            let source = match sid.tag() {
                Some(tag) => format!("{}:{}", uuid_text(sid.uuid()), tag.as_str()),
                None => uuid_text(sid.uuid()),
            };
            for interval in sid.intervals() {
                // The event's intervals end one past their last number.
                if interval.end() > interval.start() {
                    set.add_range(&source, interval.start(), interval.end() - 1);
                }
            }
        }
        set
    }

    /// Takes `gtid` in: the position moves to it in its domain (MariaDB), or the set gains it
    /// (MySQL). A GTID of the other server kind leaves the state as it is.
    pub fn add(&mut self, gtid: &Gtid) {
        match (self, gtid) {
            (
                GtidState::Mariadb(position),
                Gtid::Mariadb {
                    domain,
                    server,
                    seq,
                },
            ) => {
                position.insert(*domain, (*server, *seq));
            }
            (set @ GtidState::Mysql(_), Gtid::Mysql { source, gno }) => {
                set.add_range(source, *gno, *gno);
            }
            _ => {}
        }
    }

    /// Adds numbers `first..=last` of `source` to a MySQL set, merging ranges that touch.
    fn add_range(&mut self, source: &str, first: u64, last: u64) {
        let GtidState::Mysql(set) = self else {
            return;
        };
        let ranges = set.entry(source.to_string()).or_default();
        ranges.push((first, last));
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges.iter() {
            match merged.last_mut() {
                Some(prev) if a <= prev.1.saturating_add(1) => prev.1 = prev.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *ranges = merged;
    }

    /// A MySQL set as `COM_BINLOG_DUMP_GTID` sends it (empty for a MariaDB position).
    pub fn sids(&self) -> Result<Vec<Sid<'static>>, String> {
        let GtidState::Mysql(set) = self else {
            return Ok(Vec::new());
        };
        set.iter()
            .map(|(source, ranges)| {
                let text = format!("{source}:{}", ranges_text(ranges));
                Sid::from_str(&text).map_err(|e| format!("GTID set entry '{text}': {e}"))
            })
            .collect()
    }
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = match self {
            GtidState::Mariadb(position) => position
                .iter()
                .map(|(domain, (server, seq))| format!("{domain}-{server}-{seq}"))
                .collect(),
            GtidState::Mysql(set) => set
                .iter()
                .map(|(source, ranges)| format!("{source}:{}", ranges_text(ranges)))
                .collect(),
        };
        f.write_str(&entries.join(","))
    }
}

/// `1-5:7` of ranges `(1, 5), (7, 7)`.
fn ranges_text(ranges: &[(u64, u64)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// `domain-server-seq`.
fn mariadb_entry(entry: &str) -> Option<(u32, u32, u64)> {
    let mut parts = entry.split('-');
    let domain = parts.next()?.parse().ok()?;
    let server = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((domain, server, seq))
}

/// `N` or `N-M` (1 ≤ N ≤ M).
fn range(part: &str) -> Option<(u64, u64)> {
    let (first, last) = match part.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let n = part.parse().ok()?;
            (n, n)
        }
    };
    (first >= 1 && first <= last).then_some((first, last))
}

/// Whether `text` is a UUID (`8-4-4-4-12` hex digits).
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A UUID's text, lowercase.
fn uuid_text(uuid: [u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests;
