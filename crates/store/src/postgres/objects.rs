//! The object-watch methods of the PostgreSQL store (see [`sluice_engine::objects`]). A record
//! locks the watch's rows it reads (`FOR UPDATE`) inside one transaction, so that of the
//! processes that see one change, exactly one applies it.

use super::{Params, PostgresStore};
use crate::codec::{CLASS_COLUMNS, Row, class_record, signed};
use crate::postgres::connection::classify;
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, ObjectEvent, PendingObjectEvent};
use sluice_engine::store::StoreError;

const KNOWN: &str = "SELECT e_tag FROM object_state WHERE watch = $1 AND key = $2";
const LOCK_KNOWN: &str = "SELECT e_tag FROM object_state WHERE watch = $1 AND key = $2 FOR UPDATE";
const UPSERT: &str = "INSERT INTO object_state (watch, key, e_tag) VALUES ($1, $2, $3)
     ON CONFLICT (watch, key) DO UPDATE SET e_tag = excluded.e_tag";
const FORGET: &str = "DELETE FROM object_state WHERE watch = $1 AND key = $2";
const QUEUE: &str = "INSERT INTO object_events (watch, id, body) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING";

impl PostgresStore {
    /// The storage-class record of `path`.
    pub(super) fn class_of(&self, path: &str) -> Result<Option<ObjectClassRecord>, StoreError> {
        let rows = self.rows(
            format!("SELECT {CLASS_COLUMNS} FROM object_classes WHERE path = $1"),
            Params::default().with(path.to_string()),
            class_record,
        )?;
        Ok(rows.into_iter().next())
    }

    /// Sets or forgets the storage-class record of `path`.
    pub(super) fn put_class(
        &self,
        path: &str,
        record: Option<&ObjectClassRecord>,
    ) -> Result<(), StoreError> {
        let params = Params::default().with(path.to_string());
        match record {
            Some(r) => self.execute(
                "INSERT INTO object_classes (path, e_tag, class, restore_ready_ms, restore_expiry_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (path) DO UPDATE SET e_tag = excluded.e_tag, class = excluded.class,
                 restore_ready_ms = excluded.restore_ready_ms,
                 restore_expiry_ms = excluded.restore_expiry_ms",
                class_params(params, r),
            )?,
            None => self.execute("DELETE FROM object_classes WHERE path = $1", params)?,
        };
        Ok(())
    }

    /// Replaces the record of `path` with `after` if it is still `before`.
    pub(super) fn swap_class(
        &self,
        path: &str,
        before: &ObjectClassRecord,
        after: &ObjectClassRecord,
    ) -> Result<bool, StoreError> {
        let params = class_params(Params::default().with(path.to_string()), before);
        let n = self.execute(
            "UPDATE object_classes SET e_tag = $6, class = $7, restore_ready_ms = $8,
             restore_expiry_ms = $9
             WHERE path = $1 AND e_tag = $2 AND class = $3
             AND restore_ready_ms IS NOT DISTINCT FROM $4
             AND restore_expiry_ms IS NOT DISTINCT FROM $5",
            class_params(params, after),
        )?;
        Ok(n == 1)
    }

    /// The entity tag the watch knows for `key`.
    pub(super) fn known_object(
        &self,
        watch: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = self.rows(
            KNOWN.to_string(),
            Params::default()
                .with(watch.to_string())
                .with(key.to_string()),
            |r| r.text(0),
        )?;
        Ok(rows.into_iter().next())
    }

    /// A page of the objects the watch knows, in key order.
    pub(super) fn known_objects(
        &self,
        watch: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.rows(
            "SELECT key, e_tag FROM object_state WHERE watch = $1 AND key > $2
             ORDER BY key LIMIT $3"
                .to_string(),
            Params::default()
                .with(watch.to_string())
                .with(after.unwrap_or("").to_string())
                .with(signed(limit)),
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
    }

    /// Applies the changes whose `before` still holds, queueing their events.
    pub(super) fn record_objects(
        &self,
        watch: &str,
        changes: &[ObjectChange],
    ) -> Result<u64, StoreError> {
        let watch = watch.to_string();
        let changes = changes.to_vec();
        self.worker.call(move |c| {
            Box::pin(async move {
                let lock = c.prepare(LOCK_KNOWN).await?;
                let upsert = c.prepare(UPSERT).await?;
                let forget = c.prepare(FORGET).await?;
                let queue = c.prepare(QUEUE).await?;
                let tx = c.client().transaction().await.map_err(classify)?;
                let mut applied = 0;
                for change in &changes {
                    let rows = tx
                        .query(&lock, &[&watch, &change.key])
                        .await
                        .map_err(classify)?;
                    let known = match rows.first() {
                        Some(row) => Some(row.text(0)?),
                        None => None,
                    };
                    if known != change.before {
                        continue;
                    }
                    match &change.after {
                        Some(e_tag) => tx.execute(&upsert, &[&watch, &change.key, e_tag]).await,
                        None => tx.execute(&forget, &[&watch, &change.key]).await,
                    }
                    .map_err(classify)?;
                    if let Some(event) = &change.event {
                        tx.execute(&queue, &[&watch, &event.id, &event.body])
                            .await
                            .map_err(classify)?;
                    }
                    applied += 1;
                }
                tx.commit().await.map_err(classify)?;
                Ok(applied)
            })
        })
    }

    /// The oldest undelivered events.
    pub(super) fn pending_object_events(
        &self,
        watch: &str,
        limit: usize,
    ) -> Result<Vec<PendingObjectEvent>, StoreError> {
        self.rows(
            "SELECT seq, id, body FROM object_events WHERE watch = $1 ORDER BY seq LIMIT $2"
                .to_string(),
            Params::default()
                .with(watch.to_string())
                .with(signed(limit)),
            |r| {
                Ok(PendingObjectEvent {
                    seq: r.int(0)?,
                    event: ObjectEvent {
                        id: r.text(1)?,
                        body: r.text(2)?,
                    },
                })
            },
        )
    }

    /// Deletes delivered events.
    pub(super) fn object_events_delivered(
        &self,
        watch: &str,
        seqs: &[i64],
    ) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM object_events WHERE watch = $1 AND seq = ANY($2)",
            Params::default()
                .with(watch.to_string())
                .with(seqs.to_vec()),
        )?;
        Ok(())
    }
}

/// `params` followed by the four columns of `record`.
fn class_params(params: Params, record: &ObjectClassRecord) -> Params {
    params
        .with(record.e_tag.clone())
        .with(record.class.clone())
        .with(record.restore_ready_ms)
        .with(record.restore_expiry_ms)
}
