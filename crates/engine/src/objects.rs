//! What object-upload triggers keep in the store (see [`crate::store::Store`]'s `object_*`
//! methods).
//!
//! Each trigger's watch (named by the caller, e.g. after the trigger and its filter) keeps the
//! entity tag of every object it knows under its prefix, and an outbox of events recorded but not
//! yet delivered. A change is recorded only if the watch still knows the object as the caller
//! read it (compare-and-swap), and its event is queued in the same transaction: of the writers
//! and watchers that see one write, exactly one records it, and a recorded event stays until it
//! is delivered.

/// A change of one object, as a watch records it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectChange {
    /// The object's key (its full storage path).
    pub key: String,
    /// The entity tag the watch knew for it when the change was computed (`None`: unknown).
    pub before: Option<String>,
    /// Its entity tag now (`None`: deleted).
    pub after: Option<String>,
    /// The event to deliver, if the trigger wants one for this change.
    pub event: Option<ObjectEvent>,
}

/// An event recorded for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEvent {
    /// Its stable id: the same change seen twice has one id, and is queued once.
    pub id: String,
    /// The event, as delivered.
    pub body: String,
}

/// An event waiting for delivery, with its place in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingObjectEvent {
    /// Its sequence number, to mark it delivered with.
    pub seq: i64,
    /// The event.
    pub event: ObjectEvent,
}

/// The storage class an object was written with, and the state of its restore, as the store
/// keeps it (see [`crate::store::Store`]'s `object_class*` methods). Objects without a record
/// are in the default class. A record holds for the object version it names by entity tag: once
/// the object is replaced, the record no longer applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectClassRecord {
    /// The object's entity tag when the class was set.
    pub e_tag: String,
    /// The storage class (`GLACIER`, `DEEP_ARCHIVE`, `ARCHIVE`, ...).
    pub class: String,
    /// When the requested restore completes (or completed), epoch ms; `None`: never restored.
    pub restore_ready_ms: Option<i64>,
    /// When the restored copy expires, epoch ms.
    pub restore_expiry_ms: Option<i64>,
}
