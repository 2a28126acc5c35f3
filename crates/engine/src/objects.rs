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
