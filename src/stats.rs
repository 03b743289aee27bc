//! Connection statistics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Messages and bytes in and out, and connects, since the client started.
///
/// # Examples
///
/// ```
/// let s = nats_actix::Statistics::default();
/// assert_eq!(s.in_msgs + s.out_msgs, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Messages received.
    pub in_msgs: u64,
    /// Payload bytes received (headers included).
    pub in_bytes: u64,
    /// Messages published.
    pub out_msgs: u64,
    /// Payload bytes published (headers included).
    pub out_bytes: u64,
    /// Successful connects (1 + reconnects).
    pub connects: u64,
    /// Reconnects (successful connects after a loss).
    pub reconnects: u64,
    /// Publishes that failed with no caller to tell (a `do_send(Publish)`,
    /// a reply queued behind one), each also raised as an `Error` event.
    pub publish_errors: u64,
    /// Messages dropped because their content was malformed (see
    /// [`ErrorKind::MalformedMessage`](crate::ErrorKind::MalformedMessage)).
    pub malformed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub(crate) in_msgs: AtomicU64,
    pub(crate) in_bytes: AtomicU64,
    pub(crate) out_msgs: AtomicU64,
    pub(crate) out_bytes: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
}

impl StatsCounters {
    pub(crate) fn snapshot(&self) -> Statistics {
        Statistics {
            in_msgs: self.in_msgs.load(Ordering::Relaxed),
            in_bytes: self.in_bytes.load(Ordering::Relaxed),
            out_msgs: self.out_msgs.load(Ordering::Relaxed),
            out_bytes: self.out_bytes.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            publish_errors: self.publish_errors.load(Ordering::Relaxed),
        }
    }
}

static LIVE_ACTORS: AtomicUsize = AtomicUsize::new(0);

/// How many of this crate's actors (connection supervisors, connections,
/// request muxers, subscriptions, pull consumers) are alive in this
/// process: a leak check for applications and tests. After every client
/// has closed and been dropped it returns to what it was before.
///
/// # Examples
///
/// ```
/// // No client yet: nothing of ours is running.
/// assert_eq!(nats_actix::stats::live_actors(), 0);
/// ```
pub fn live_actors() -> usize {
    LIVE_ACTORS.load(Ordering::Relaxed)
}

/// Held by each of our actors: counted while the actor's state exists.
#[derive(Debug)]
pub(crate) struct LiveActor(());

impl LiveActor {
    pub(crate) fn new() -> LiveActor {
        LIVE_ACTORS.fetch_add(1, Ordering::Relaxed);
        LiveActor(())
    }
}

impl Drop for LiveActor {
    fn drop(&mut self) {
        LIVE_ACTORS.fetch_sub(1, Ordering::Relaxed);
    }
}
