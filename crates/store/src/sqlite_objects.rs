//! The object-watch methods of the SQLite store (see [`sluice_engine::objects`]). Recording
//! runs in an immediate transaction, so that of the processes sharing the file that see one
//! change, exactly one applies it.

use crate::codec::{CLASS_COLUMNS, class_record, signed};
use crate::sqlite::{err, query};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, ObjectEvent, PendingObjectEvent};
use sluice_engine::store::StoreError;

/// The entity tag the watch knows for `key`.
pub(crate) fn known(
    conn: &Connection,
    watch: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    conn.prepare_cached("SELECT e_tag FROM object_state WHERE watch = ?1 AND key = ?2")
        .map_err(err)?
        .query_row(params![watch, key], |r| r.get(0))
        .optional()
        .map_err(err)
}

/// A page of the objects the watch knows, in key order.
pub(crate) fn known_page(
    conn: &Connection,
    watch: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, String)>, StoreError> {
    query(
        conn,
        "SELECT key, e_tag FROM object_state WHERE watch = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
        params![watch, after.unwrap_or(""), signed(limit)],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )
}

/// Applies the changes whose `before` still holds, queueing their events.
pub(crate) fn record(
    conn: &mut Connection,
    watch: &str,
    changes: &[ObjectChange],
) -> Result<u64, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let mut applied = 0;
    for change in changes {
        if known(&tx, watch, &change.key)? != change.before {
            continue;
        }
        match &change.after {
            Some(e_tag) => tx
                .prepare_cached(
                    "INSERT INTO object_state (watch, key, e_tag) VALUES (?1, ?2, ?3)
                     ON CONFLICT (watch, key) DO UPDATE SET e_tag = excluded.e_tag",
                )
                .map_err(err)?
                .execute(params![watch, change.key, e_tag]),
            None => tx
                .prepare_cached("DELETE FROM object_state WHERE watch = ?1 AND key = ?2")
                .map_err(err)?
                .execute(params![watch, change.key]),
        }
        .map_err(err)?;
        if let Some(event) = &change.event {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO object_events (watch, id, body) VALUES (?1, ?2, ?3)",
            )
            .map_err(err)?
            .execute(params![watch, event.id, event.body])
            .map_err(err)?;
        }
        applied += 1;
    }
    tx.commit().map_err(err)?;
    Ok(applied)
}

/// The oldest undelivered events.
pub(crate) fn events(
    conn: &Connection,
    watch: &str,
    limit: usize,
) -> Result<Vec<PendingObjectEvent>, StoreError> {
    query(
        conn,
        "SELECT seq, id, body FROM object_events WHERE watch = ?1 ORDER BY seq LIMIT ?2",
        params![watch, signed(limit)],
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
pub(crate) fn events_done(
    conn: &mut Connection,
    watch: &str,
    seqs: &[i64],
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(err)?;
    for seq in seqs {
        tx.prepare_cached("DELETE FROM object_events WHERE watch = ?1 AND seq = ?2")
            .map_err(err)?
            .execute(params![watch, seq])
            .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// The storage-class record of `path`.
pub(crate) fn class(
    conn: &Connection,
    path: &str,
) -> Result<Option<ObjectClassRecord>, StoreError> {
    let rows = query(
        conn,
        &format!("SELECT {CLASS_COLUMNS} FROM object_classes WHERE path = ?1"),
        params![path],
        class_record,
    )?;
    Ok(rows.into_iter().next())
}

/// Sets or forgets the storage-class record of `path`.
pub(crate) fn put_class(
    conn: &Connection,
    path: &str,
    record: Option<&ObjectClassRecord>,
) -> Result<(), StoreError> {
    match record {
        Some(r) => conn
            .prepare_cached(
                "INSERT INTO object_classes (path, e_tag, class, restore_ready_ms, restore_expiry_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (path) DO UPDATE SET e_tag = excluded.e_tag, class = excluded.class,
                 restore_ready_ms = excluded.restore_ready_ms,
                 restore_expiry_ms = excluded.restore_expiry_ms",
            )
            .map_err(err)?
            .execute(params![
                path,
                r.e_tag,
                r.class,
                r.restore_ready_ms,
                r.restore_expiry_ms
            ]),
        None => conn
            .prepare_cached("DELETE FROM object_classes WHERE path = ?1")
            .map_err(err)?
            .execute(params![path]),
    }
    .map_err(err)?;
    Ok(())
}

/// Replaces the record of `path` with `after` if it is still `before`.
pub(crate) fn swap_class(
    conn: &Connection,
    path: &str,
    before: &ObjectClassRecord,
    after: &ObjectClassRecord,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE object_classes SET e_tag = ?6, class = ?7, restore_ready_ms = ?8,
             restore_expiry_ms = ?9
             WHERE path = ?1 AND e_tag = ?2 AND class = ?3 AND restore_ready_ms IS ?4
             AND restore_expiry_ms IS ?5",
        )
        .map_err(err)?
        .execute(params![
            path,
            before.e_tag,
            before.class,
            before.restore_ready_ms,
            before.restore_expiry_ms,
            after.e_tag,
            after.class,
            after.restore_ready_ms,
            after.restore_expiry_ms
        ])
        .map_err(err)?;
    Ok(n == 1)
}
