//! The change stream: pgoutput from the slot, decoded, batched, and confirmed to the server
//! only up to the last transaction the sink accepted in full and the store recorded.

use super::decoder::Decoder;
use crate::sink::Sinker;
use crate::source::Checkpointer;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationEvent};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_postgres::Client;

/// How often the position is stored (and the lease extended) when nothing else stores it.
pub const TICK: Duration = Duration::from_secs(5);

/// Waits until `deadline`, or forever without one.
pub async fn until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Where the stream is: what was stored, and what may be stored next.
struct Positions {
    /// Stored and confirmed to the server.
    stored: u64,
    /// End of the last transaction whose changes were all pushed to the sinker.
    committed: u64,
    /// The server's position seen while nothing was in flight.
    idle: u64,
    /// Inside a transaction.
    in_txn: bool,
}

/// Streams from `client` (started at `position`) until `stop`; an error ends the session.
pub async fn stream(
    client: &mut ReplicationClient,
    sql: &Client,
    decoder: &mut Decoder,
    sinker: &mut Sinker,
    checkpointer: &Checkpointer,
    position: u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let mut at = Positions {
        stored: position,
        committed: position,
        idle: position,
        in_txn: false,
    };
    let status = checkpointer.status();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let deadline = sinker.deadline();
        tokio::select! {
            event = client.recv() => {
                let event = event.map_err(|e| format!("replication stream: {e}"))?;
                match event {
                    None => return Err("the replication stream ended".into()),
                    Some(ReplicationEvent::Begin { final_lsn, xid, commit_time_micros }) => {
                        decoder.begin(final_lsn.as_u64(), xid, commit_time_micros);
                        at.in_txn = true;
                    }
                    Some(ReplicationEvent::XLogData { wal_end, data, .. }) => {
                        status.server_at(wal_end.as_u64());
                        for change in decoder.message(sql, &data).await? {
                            if sinker.push(change) {
                                let Ok(accepted) = sinker.flush(at.committed, stop).await else {
                                    return Ok(());
                                };
                                if let Some(mark) = accepted {
                                    save(client, checkpointer, &mut at, mark).await?;
                                }
                            }
                        }
                    }
                    Some(ReplicationEvent::Commit { end_lsn, .. }) => {
                        at.committed = end_lsn.as_u64();
                        at.in_txn = false;
                    }
                    Some(ReplicationEvent::KeepAlive { wal_end, .. }) => {
                        status.server_at(wal_end.as_u64());
                        if !at.in_txn && sinker.is_idle() {
                            at.idle = at.idle.max(wal_end.as_u64());
                        }
                    }
                    Some(ReplicationEvent::Message { .. }) => {}
                    Some(ReplicationEvent::StoppedAt { .. }) => return Ok(()),
                }
            }
            accepted = sinker.accepted() => {
                let Ok(mark) = accepted else { return Ok(()) };
                save(client, checkpointer, &mut at, mark).await?;
            }
            () = until(deadline) => {
                let Ok(accepted) = sinker.flush(at.committed, stop).await else {
                    return Ok(());
                };
                if let Some(mark) = accepted {
                    save(client, checkpointer, &mut at, mark).await?;
                }
            }
            _ = tick.tick() => {
                let target = if !at.in_txn && sinker.is_idle() {
                    at.committed.max(at.idle)
                } else {
                    at.stored
                };
                save(client, checkpointer, &mut at, target).await?;
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Stores `target` (when it moves forward; the lease is extended either way), then confirms it
/// to the server.
async fn save(
    client: &ReplicationClient,
    checkpointer: &Checkpointer,
    at: &mut Positions,
    target: u64,
) -> Result<(), String> {
    let position = target.max(at.stored);
    checkpointer.save("streaming", position).await?;
    if position > at.stored {
        at.stored = position;
        client.update_applied_lsn(Lsn::from_u64(position));
    }
    Ok(())
}
