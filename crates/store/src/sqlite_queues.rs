//! The queue methods of the SQLite store (see [`sluice_engine::queue`]). Receives and
//! settlements run in immediate transactions, so that processes sharing the file never receive
//! the same message twice within a lease.

use crate::codec::{QUEUE_MESSAGE_COLUMNS, queue_message, to_json};
use crate::sqlite::{err, query};
use rusqlite::{Connection, TransactionBehavior, params};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settle, Settlement};
use sluice_engine::store::StoreError;

/// Inserts messages, each onto its queue, in one transaction.
pub(crate) fn send<'a>(
    conn: &mut Connection,
    messages: impl Iterator<Item = (&'a str, &'a NewMessage)>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(err)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(err)?;
        for (queue, m) in messages {
            let attributes = to_json(&m.attributes)?;
            insert
                .execute(params![
                    queue,
                    m.id,
                    m.body,
                    attributes,
                    now_ms,
                    m.visible_ms
                ])
                .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

/// Leases up to `max` ready messages.
pub(crate) fn receive(
    conn: &mut Connection,
    queue: &str,
    max: usize,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Vec<QueueMessage>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let mut taken = query(
        &tx,
        &format!(
            "UPDATE queue_messages SET visible_ms = ?3, receive_count = receive_count + 1
             WHERE seq IN (
                 SELECT seq FROM queue_messages
                 WHERE queue = ?1 AND failed IS NULL AND visible_ms <= ?2
                 ORDER BY visible_ms, seq LIMIT ?4)
             RETURNING seq, {QUEUE_MESSAGE_COLUMNS}"
        ),
        params![queue, now_ms, lease_until_ms, max as i64],
        |r| Ok((r.int(0)?, queue_message(&Shifted(r))?)),
    )?;
    tx.commit().map_err(err)?;
    taken.sort_by_key(|(seq, _)| *seq);
    Ok(taken.into_iter().map(|(_, m)| m).collect())
}

/// A row read from its second column on, for a query that selects `seq` first.
struct Shifted<'r>(&'r dyn crate::codec::Row);

impl crate::codec::Row for Shifted<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.text(i + 1)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.opt_text(i + 1)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.0.int(i + 1)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.opt_int(i + 1)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.0.flag(i + 1)
    }
}

/// Applies settlements that still match their message's receive.
pub(crate) fn settle(
    conn: &mut Connection,
    queue: &str,
    settlements: &[Settlement],
    now_ms: i64,
) -> Result<u64, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let mut matched = 0;
    for s in settlements {
        let (id, count) = (&s.id, s.receive_count);
        // Cached statements: a batch settles up to 100 messages with the same few statements.
        let n = match &s.action {
            Settle::Delete => tx
                .prepare_cached(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
                )
                .and_then(|mut st| st.execute(params![queue, id, count])),
            Settle::VisibleAt(at) => tx
                .prepare_cached(
                    "UPDATE queue_messages SET visible_ms = ?4
                     WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
                )
                .and_then(|mut st| st.execute(params![queue, id, count, at])),
            Settle::MoveTo(to) => tx
                .prepare_cached(
                    "UPDATE queue_messages SET queue = ?4, visible_ms = ?5, receive_count = 0
                     WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
                )
                .and_then(|mut st| st.execute(params![queue, id, count, to, now_ms])),
            Settle::Fail(why) => tx
                .prepare_cached(
                    "UPDATE queue_messages SET failed = ?4
                     WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
                )
                .and_then(|mut st| st.execute(params![queue, id, count, why])),
        }
        .map_err(err)?;
        matched += n as u64;
    }
    tx.commit().map_err(err)?;
    Ok(matched)
}

/// Messages in order, without receiving them.
pub(crate) fn peek(
    conn: &Connection,
    queue: &str,
    limit: usize,
    failed: bool,
) -> Result<Vec<QueueMessage>, StoreError> {
    let which = if failed {
        "failed IS NOT NULL"
    } else {
        "failed IS NULL"
    };
    query(
        conn,
        &format!(
            "SELECT {QUEUE_MESSAGE_COLUMNS} FROM queue_messages
             WHERE queue = ?1 AND {which} ORDER BY visible_ms, seq LIMIT ?2"
        ),
        params![queue, limit as i64],
        queue_message,
    )
}

/// Counts by state.
pub(crate) fn stats(conn: &Connection, queue: &str, now_ms: i64) -> Result<QueueStats, StoreError> {
    let rows = query(
        conn,
        "SELECT
             COALESCE(SUM(failed IS NULL AND visible_ms <= ?2), 0),
             COALESCE(SUM(failed IS NULL AND visible_ms > ?2 AND receive_count = 0), 0),
             COALESCE(SUM(failed IS NULL AND visible_ms > ?2 AND receive_count > 0), 0),
             COALESCE(SUM(failed IS NOT NULL), 0),
             MIN(CASE WHEN failed IS NULL THEN sent_ms END)
         FROM queue_messages WHERE queue = ?1",
        params![queue, now_ms],
        |r| {
            Ok(QueueStats {
                ready: r.int(0)? as u64,
                delayed: r.int(1)? as u64,
                in_flight: r.int(2)? as u64,
                failed: r.int(3)? as u64,
                oldest_sent_ms: r.opt_int(4)?,
            })
        },
    )?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

/// Deletes every message of a queue.
pub(crate) fn purge(conn: &Connection, queue: &str) -> Result<u64, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM queue_messages WHERE queue = ?1",
            params![queue],
        )
        .map_err(err)?;
    Ok(n as u64)
}

/// Moves a dead-letter queue's messages (or a queue's failed ones) back.
pub(crate) fn redrive(
    conn: &Connection,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let only_failed = if from == to {
        "AND failed IS NOT NULL"
    } else {
        ""
    };
    let n = conn
        .execute(
            &format!(
                "UPDATE queue_messages SET queue = ?2, visible_ms = ?3, receive_count = 0,
                 failed = NULL WHERE queue = ?1 {only_failed}"
            ),
            params![from, to, now_ms],
        )
        .map_err(err)?;
    Ok(n as u64)
}
