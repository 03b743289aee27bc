//! What a subscription has pending: the counters shared by the
//! Connection (which delivers), the Subscription actor, the user's handles
//! and each delivered message, and the token a delivered message holds
//! while it is pending. Plain data, no actor.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::Error;
use crate::writer::Writer;

/// Counters shared between the Connection (which delivers), the actor, the
/// user's handles and each delivered message.
#[derive(Debug, Default)]
pub struct SubShared {
    pub(crate) received: AtomicU64,
    pub(crate) pending_msgs: AtomicU64,
    pub(crate) pending_bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) slow: AtomicBool,
    pub(crate) closed: AtomicBool,
    end_reason: Mutex<Option<Error>>,
    /// For [`Msg::respond`](crate::Msg::respond): one reference per
    /// subscription, not one per message.
    pub(crate) writer: Option<Arc<Writer>>,
}

impl SubShared {
    pub(crate) fn new(writer: Option<Arc<Writer>>) -> SubShared {
        SubShared {
            writer,
            ..SubShared::default()
        }
    }

    /// Messages handled so far: delivered and released by the handler or
    /// the stream's reader (a message still queued, or still held, is
    /// [`pending`](SubShared::pending), not processed).
    pub fn processed(&self) -> u64 {
        // Every message received was dropped, or delivered; a delivered
        // one is pending until released.
        self.received
            .load(Ordering::Relaxed)
            .saturating_sub(self.dropped.load(Ordering::Relaxed))
            .saturating_sub(self.pending_msgs.load(Ordering::Relaxed))
    }
    /// Messages delivered so far (handled or still pending), not counting
    /// those dropped by the slow-consumer policy.
    pub fn delivered(&self) -> u64 {
        self.received
            .load(Ordering::Relaxed)
            .saturating_sub(self.dropped.load(Ordering::Relaxed))
    }
    /// Messages delivered and not yet dropped by the user.
    pub fn pending(&self) -> u64 {
        self.pending_msgs.load(Ordering::Relaxed)
    }
    /// Bytes delivered and not yet dropped by the user.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }
    /// Messages dropped by the slow-consumer policy.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Whether the subscription ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    /// Why the subscription ended, if it ended with an error.
    pub fn end_reason(&self) -> Option<Error> {
        self.end_reason.lock().ok().and_then(|r| r.clone())
    }

    pub(crate) fn set_end_reason(&self, reason: Option<Error>) {
        if let Ok(mut r) = self.end_reason.lock()
            && r.is_none()
        {
            *r = reason;
        }
    }
}

/// Held by each delivered [`Msg`](crate::Msg): while it lives, the message
/// is pending.
#[derive(Debug)]
pub(crate) struct PendingToken {
    shared: Arc<SubShared>,
    bytes: u64,
}

impl PendingToken {
    pub(crate) fn new(shared: Arc<SubShared>, bytes: u64) -> PendingToken {
        PendingToken { shared, bytes }
    }

    pub(crate) fn writer(&self) -> Option<&Arc<Writer>> {
        self.shared.writer.as_ref()
    }
}

impl Drop for PendingToken {
    fn drop(&mut self) {
        self.shared.pending_msgs.fetch_sub(1, Ordering::Relaxed);
        self.shared
            .pending_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}
