//! The queue methods of the PostgreSQL store (see [`sluice_engine::queue`]): each one statement
//! over arrays, receives with `FOR UPDATE SKIP LOCKED` so that processes on many hosts share a
//! queue without receiving the same message twice within a lease.

use super::{Params, PostgresStore};
use crate::codec::{QUEUE_MESSAGE_COLUMNS, queue_message, signed, to_json};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settle, Settlement};
use sluice_engine::store::StoreError;

impl PostgresStore {
    /// Inserts messages, each onto its queue, in one statement.
    pub(super) fn send_messages<'a>(
        &self,
        messages: impl ExactSizeIterator<Item = (&'a str, &'a NewMessage)>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut queues = Vec::with_capacity(messages.len());
        let mut ids = Vec::with_capacity(messages.len());
        let mut bodies = Vec::with_capacity(messages.len());
        let mut attributes = Vec::with_capacity(messages.len());
        let mut visible = Vec::with_capacity(messages.len());
        for (queue, m) in messages {
            queues.push(queue.to_string());
            ids.push(m.id.clone());
            bodies.push(m.body.clone());
            attributes.push(to_json(&m.attributes)?);
            visible.push(m.visible_ms);
        }
        self.execute(
            "INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms)
             SELECT queue, id, body, attributes, $1, visible_ms
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                  AS m(queue, id, body, attributes, visible_ms)",
            Params::default()
                .with(now_ms)
                .with(queues)
                .with(ids)
                .with(bodies)
                .with(attributes)
                .with(visible),
        )?;
        Ok(())
    }

    /// Leases up to `max` ready messages.
    pub(super) fn receive_messages(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        let mut taken = self.rows(
            format!(
                "UPDATE queue_messages SET visible_ms = $3, receive_count = receive_count + 1
                 WHERE seq IN (
                     SELECT seq FROM queue_messages
                     WHERE queue = $1 AND failed IS NULL AND visible_ms <= $2
                     ORDER BY visible_ms, seq LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {QUEUE_MESSAGE_COLUMNS}, seq"
            ),
            Params::default()
                .with(queue.to_string())
                .with(now_ms)
                .with(lease_until_ms)
                .with(signed(max)),
            |r| Ok((r.int(8)?, queue_message(r)?)),
        )?;
        taken.sort_by_key(|(seq, _)| *seq);
        Ok(taken.into_iter().map(|(_, m)| m).collect())
    }

    /// Applies settlements that still match their message's receive, in one statement.
    pub(super) fn settle_messages(
        &self,
        queue: &str,
        settlements: &[Settlement],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut ids = Vec::new();
        let mut counts = Vec::new();
        let mut actions = Vec::new();
        let mut times = Vec::new();
        let mut args: Vec<Option<String>> = Vec::new();
        for s in settlements {
            ids.push(s.id.clone());
            counts.push(i64::from(s.receive_count));
            let (action, time, arg) = match &s.action {
                Settle::Delete => ("delete", now_ms, None),
                Settle::VisibleAt(at) => ("visible", *at, None),
                Settle::MoveTo(to) => ("move", now_ms, Some(to.clone())),
                Settle::Fail(why) => ("fail", now_ms, Some(why.clone())),
            };
            actions.push(action.to_string());
            times.push(time);
            args.push(arg);
        }
        let rows = self.rows(
            "WITH s AS (
                 SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
                     AS s(id, rc, action, at, arg)),
             deleted AS (
                 DELETE FROM queue_messages m USING s
                 WHERE s.action = 'delete' AND m.queue = $1 AND m.id = s.id
                   AND m.receive_count = s.rc
                 RETURNING 1),
             changed AS (
                 UPDATE queue_messages m SET
                     visible_ms = CASE WHEN s.action = 'fail' THEN m.visible_ms ELSE s.at END,
                     queue = CASE WHEN s.action = 'move' THEN s.arg ELSE m.queue END,
                     receive_count = CASE WHEN s.action = 'move' THEN 0 ELSE m.receive_count END,
                     failed = CASE WHEN s.action = 'fail' THEN s.arg ELSE m.failed END
                 FROM s
                 WHERE s.action <> 'delete' AND m.queue = $1 AND m.id = s.id
                   AND m.receive_count = s.rc
                 RETURNING 1)
             SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM changed)"
                .to_string(),
            Params::default()
                .with(queue.to_string())
                .with(ids)
                .with(counts)
                .with(actions)
                .with(times)
                .with(args),
            |r| r.int(0),
        )?;
        Ok(rows.first().copied().unwrap_or(0) as u64)
    }

    /// Messages in order, without receiving them.
    pub(super) fn peek_messages(
        &self,
        queue: &str,
        limit: usize,
        failed: bool,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        self.rows(
            format!(
                "SELECT {QUEUE_MESSAGE_COLUMNS} FROM queue_messages
                 WHERE queue = $1 AND (failed IS NOT NULL) = $2
                 ORDER BY visible_ms, seq LIMIT $3"
            ),
            Params::default()
                .with(queue.to_string())
                .with(failed)
                .with(signed(limit)),
            queue_message,
        )
    }

    /// Counts by state.
    pub(super) fn message_stats(&self, queue: &str, now_ms: i64) -> Result<QueueStats, StoreError> {
        let rows = self.rows(
            "SELECT
                 count(*) FILTER (WHERE failed IS NULL AND visible_ms <= $2),
                 count(*) FILTER (WHERE failed IS NULL AND visible_ms > $2 AND receive_count = 0),
                 count(*) FILTER (WHERE failed IS NULL AND visible_ms > $2 AND receive_count > 0),
                 count(*) FILTER (WHERE failed IS NOT NULL),
                 min(sent_ms) FILTER (WHERE failed IS NULL)
             FROM queue_messages WHERE queue = $1"
                .to_string(),
            Params::default().with(queue.to_string()).with(now_ms),
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
    pub(super) fn purge_messages(&self, queue: &str) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM queue_messages WHERE queue = $1",
            Params::default().with(queue.to_string()),
        )
    }

    /// Moves a dead-letter queue's messages (or a queue's failed ones) back.
    pub(super) fn redrive_messages(
        &self,
        from: &str,
        to: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE queue_messages SET queue = $2, visible_ms = $3, receive_count = 0, failed = NULL
             WHERE queue = $1 AND ($1 <> $2 OR failed IS NOT NULL)",
            Params::default()
                .with(from.to_string())
                .with(to.to_string())
                .with(now_ms),
        )
    }
}
