//! The Subscription actor: one per subscription.
//!
//! It owns the subscription's lifecycle: unsubscribe (now or after `max`),
//! drain, the first-message `timeout`, and the `on_end` notification. The
//! Connection delivers each message straight to the subscription's
//! delivery (the user's `Recipient<Msg>` or the channel behind a
//! [`Subscriber`](crate::Subscriber) stream), applying the limits kept in
//! the shared [`SubShared`] counters: no extra hop per message.
//!
//! Slow consumers: a delivered [`Msg`](crate::Msg) counts as *pending* until the user
//! drops it. Over the pending limits (messages or bytes) the newest message
//! is dropped and counted, an [`Event::SlowConsumer`](crate::Event) is
//! raised once per episode, and the connection stays up.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;

use crate::connection::{Connection, DrainSub, RemoveSub, SetMax};
use crate::messages::{Drain, SubscriptionEnded, Unsubscribe};
use crate::writer::Writer;
use crate::{Error, ErrorKind, Subject};

/// Counters shared between the Connection (which delivers), the actor, the
/// user's handles and each delivered message.
#[derive(Debug, Default)]
pub struct SubShared {
    pub(crate) received: AtomicU64,
    pub(crate) pending_msgs: AtomicU64,
    pub(crate) pending_bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) slow: AtomicBool,
    closed: AtomicBool,
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

    fn set_end_reason(&self, reason: Option<Error>) {
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

/// Ends the subscription (max reached, drained, connection closed,
/// permission violation, ...). The Connection has already forgotten it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct End(pub(crate) Option<Error>);

/// The Subscription actor.
#[derive(Debug)]
pub struct Subscription {
    sid: u64,
    subject: Subject,
    shared: Arc<SubShared>,
    conn: Addr<Connection>,
    timeout: Option<Duration>,
    on_end: Option<Recipient<SubscriptionEnded>>,
}

pub(crate) struct SubscriptionInit {
    pub(crate) sid: u64,
    pub(crate) subject: Subject,
    pub(crate) shared: Arc<SubShared>,
    pub(crate) conn: Addr<Connection>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_end: Option<Recipient<SubscriptionEnded>>,
}

impl Subscription {
    pub(crate) fn new(init: SubscriptionInit) -> Subscription {
        Subscription {
            sid: init.sid,
            subject: init.subject,
            shared: init.shared,
            conn: init.conn,
            timeout: init.timeout,
            on_end: init.on_end,
        }
    }

    /// Ends the subscription from this side: the Connection forgets it
    /// (ending its stream) and, with `unsub`, tells the server.
    fn finish(&mut self, unsub: bool, reason: Option<Error>, ctx: &mut Context<Self>) {
        // The reason must be visible before the stream ends.
        self.shared.set_end_reason(reason);
        self.conn.do_send(RemoveSub {
            sid: self.sid,
            unsub,
        });
        ctx.stop();
    }
}

impl Actor for Subscription {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        if let Some(timeout) = self.timeout {
            ctx.run_later(timeout, |act, ctx| {
                if act.shared.received.load(Ordering::Relaxed) == 0 {
                    act.finish(true, Some(Error::new(ErrorKind::TimedOut)), ctx);
                }
            });
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(on_end) = self.on_end.take() {
            on_end.do_send(SubscriptionEnded {
                sid: self.sid,
                subject: self.subject.clone(),
                reason: self.shared.end_reason(),
            });
        }
    }
}

impl Handler<End> for Subscription {
    type Result = ();

    fn handle(&mut self, End(reason): End, ctx: &mut Context<Self>) {
        self.shared.set_end_reason(reason);
        ctx.stop();
    }
}

impl Handler<Unsubscribe> for Subscription {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Context<Self>) -> Self::Result {
        match msg.max {
            Some(max) => self.conn.do_send(SetMax { sid: self.sid, max }),
            None => self.finish(true, None, ctx),
        }
        Ok(())
    }
}

impl Handler<Drain> for Subscription {
    type Result = ResponseActFuture<Self, Result<(), Error>>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let conn = self.conn.clone();
        let sid = self.sid;
        Box::pin(
            async move { conn.send(DrainSub { sid }).await? }
                .into_actor(self)
                .map(|res: Result<(), Error>, _, ctx: &mut Context<Self>| {
                    if res.is_ok() {
                        ctx.stop();
                    }
                    res
                }),
        )
    }
}
