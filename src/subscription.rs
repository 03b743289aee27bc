//! The Subscription actor: one per subscription.
//!
//! It owns the subscription's state (subject, queue, `max`, first-message
//! timeout, pending limits and counters) and delivers each message to the
//! user's `Recipient<Msg>` or to the channel behind a
//! [`Subscriber`](crate::Subscriber) stream.
//!
//! Slow consumers: a delivered [`Msg`] counts as *pending* until the user
//! drops it. Over the pending limits (messages or bytes) the newest message
//! is dropped and counted, an [`Event::SlowConsumer`] is raised once per
//! episode, and the connection stays up.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;

use crate::connection::{Connection, RemoveSub};
use crate::event::Event;
use crate::messages::{Delivery, Drain, SubscriptionEnded, Unsubscribe};
use crate::supervisor::EventBus;
use crate::{Error, ErrorKind, Msg, Subject};

/// Counters shared between the actor, the user's handles and the
/// [`PendingToken`] in each delivered message.
#[derive(Debug, Default)]
pub struct SubShared {
    processed: AtomicU64,
    pending_msgs: AtomicU64,
    pending_bytes: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicBool,
    end_reason: Mutex<Option<Error>>,
}

impl SubShared {
    /// Messages delivered so far.
    pub fn processed(&self) -> u64 {
        self.processed.load(Ordering::Relaxed)
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
}

/// Held by each delivered [`Msg`]: while it lives, the message is pending.
#[derive(Debug)]
pub(crate) struct PendingToken {
    shared: Arc<SubShared>,
    bytes: u64,
}

impl Drop for PendingToken {
    fn drop(&mut self) {
        self.shared.pending_msgs.fetch_sub(1, Ordering::Relaxed);
        self.shared
            .pending_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A message for one subscription, from the Connection.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Deliver(pub(crate) Msg);

/// Ends the subscription (connection closed, permission violation, ...).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct End(pub(crate) Option<Error>);

/// The Subscription actor.
#[derive(Debug)]
pub struct Subscription {
    sid: u64,
    subject: Subject,
    delivery: Option<Delivery>,
    shared: Arc<SubShared>,
    conn: Addr<Connection>,
    events: EventBus,
    max: Option<u64>,
    timeout: Option<Duration>,
    limit_msgs: u64,
    limit_bytes: u64,
    slow: bool,
    received: u64,
    on_end: Option<Recipient<SubscriptionEnded>>,
    reason: Option<Error>,
}

pub(crate) struct SubscriptionInit {
    pub(crate) sid: u64,
    pub(crate) subject: Subject,
    pub(crate) delivery: Delivery,
    pub(crate) shared: Arc<SubShared>,
    pub(crate) conn: Addr<Connection>,
    pub(crate) events: EventBus,
    pub(crate) max: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) limit_msgs: usize,
    pub(crate) limit_bytes: usize,
    pub(crate) on_end: Option<Recipient<SubscriptionEnded>>,
}

impl Subscription {
    pub(crate) fn new(init: SubscriptionInit) -> Subscription {
        Subscription {
            sid: init.sid,
            subject: init.subject,
            delivery: Some(init.delivery),
            shared: init.shared,
            conn: init.conn,
            events: init.events,
            max: init.max,
            timeout: init.timeout,
            limit_msgs: init.limit_msgs as u64,
            limit_bytes: init.limit_bytes as u64,
            slow: false,
            received: 0,
            on_end: init.on_end,
            reason: None,
        }
    }

    fn end(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.reason.is_none() {
            self.reason = reason;
        }
        ctx.stop();
    }
}

impl Actor for Subscription {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        if let Some(timeout) = self.timeout {
            ctx.run_later(timeout, |act, ctx| {
                if act.received == 0 {
                    act.conn.do_send(RemoveSub {
                        sid: act.sid,
                        unsub: true,
                    });
                    act.end(Some(Error::new(ErrorKind::TimedOut)), ctx);
                }
            });
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Ok(mut r) = self.shared.end_reason.lock() {
            *r = self.reason.clone();
        }
        self.shared.closed.store(true, Ordering::Release);
        // Dropping the sender ends the stream.
        self.delivery = None;
        self.conn.do_send(RemoveSub {
            sid: self.sid,
            unsub: false,
        });
        if let Some(on_end) = self.on_end.take() {
            on_end.do_send(SubscriptionEnded {
                sid: self.sid,
                subject: self.subject.clone(),
                reason: self.reason.take(),
            });
        }
    }
}

impl Handler<Deliver> for Subscription {
    type Result = ();

    fn handle(&mut self, Deliver(mut msg): Deliver, ctx: &mut Context<Self>) {
        if self.max.is_some_and(|max| self.received >= max) {
            return;
        }
        self.received += 1;
        let bytes = msg.payload.len() as u64;
        let pending = self.shared.pending_msgs.load(Ordering::Relaxed);
        let pending_bytes = self.shared.pending_bytes.load(Ordering::Relaxed);
        if pending >= self.limit_msgs || pending_bytes + bytes > self.limit_bytes {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.slow {
                self.slow = true;
                self.events.emit(Event::SlowConsumer {
                    sid: self.sid,
                    subject: self.subject.to_string(),
                });
            }
        } else {
            self.slow = false;
            self.shared.pending_msgs.fetch_add(1, Ordering::Relaxed);
            self.shared
                .pending_bytes
                .fetch_add(bytes, Ordering::Relaxed);
            self.shared.processed.fetch_add(1, Ordering::Relaxed);
            msg.token = Some(PendingToken {
                shared: self.shared.clone(),
                bytes,
            });
            let alive = match &self.delivery {
                Some(Delivery::Actor(r)) => {
                    r.do_send(msg);
                    r.connected()
                }
                Some(Delivery::Channel(tx)) => tx.send(msg).is_ok(),
                Some(Delivery::Func(f)) => f(msg),
                None => true,
            };
            if !alive {
                // The stream or receiver is gone: nobody is listening.
                self.conn.do_send(RemoveSub {
                    sid: self.sid,
                    unsub: true,
                });
                ctx.stop();
                return;
            }
        }
        if self.max.is_some_and(|max| self.received >= max) {
            ctx.stop();
        }
    }
}

impl Handler<End> for Subscription {
    type Result = ();

    fn handle(&mut self, End(reason): End, ctx: &mut Context<Self>) {
        self.end(reason, ctx);
    }
}

impl Handler<Unsubscribe> for Subscription {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Context<Self>) -> Self::Result {
        match msg.max {
            Some(max) if max > self.received => {
                self.max = Some(max);
                self.conn
                    .do_send(crate::connection::SetMax { sid: self.sid, max });
            }
            _ => {
                self.conn.do_send(RemoveSub {
                    sid: self.sid,
                    unsub: true,
                });
                ctx.stop();
            }
        }
        Ok(())
    }
}

/// Sent to itself once the server confirmed the UNSUB of a drain: every
/// message the server sent before is already in the mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Drained;

impl Handler<Drained> for Subscription {
    type Result = ();

    fn handle(&mut self, _: Drained, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Drain> for Subscription {
    type Result = ResponseActFuture<Self, Result<(), Error>>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let conn = self.conn.clone();
        let sid = self.sid;
        Box::pin(
            async move {
                conn.send(crate::connection::DrainSub { sid }).await??;
                Ok(())
            }
            .into_actor(self)
            .map(|res: Result<(), Error>, _act, ctx: &mut Context<Self>| {
                // Queue behind the messages already delivered.
                ctx.address().do_send(Drained);
                res
            }),
        )
    }
}
