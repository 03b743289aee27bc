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
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;

use crate::messages::{
    ConnLink, Drain, DrainSub, End, RemoveSub, SetMax, SubscriptionEnded, Unsubscribe,
};
pub use crate::pending::SubShared;
use crate::{Error, ErrorKind, Subject};

/// The Subscription actor.
#[derive(Debug)]
pub struct Subscription {
    _live: crate::stats::LiveActor,
    sid: u64,
    subject: Subject,
    shared: Arc<SubShared>,
    conn: ConnLink,
    timeout: Option<Duration>,
    on_end: Option<Recipient<SubscriptionEnded>>,
}

pub(crate) struct SubscriptionInit {
    pub(crate) sid: u64,
    pub(crate) subject: Subject,
    pub(crate) shared: Arc<SubShared>,
    pub(crate) conn: ConnLink,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_end: Option<Recipient<SubscriptionEnded>>,
}

impl Subscription {
    pub(crate) fn new(init: SubscriptionInit) -> Subscription {
        Subscription {
            _live: crate::stats::LiveActor::new(),
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
        self.conn.remove.do_send(RemoveSub {
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
            Some(max) => self.conn.set_max.do_send(SetMax { sid: self.sid, max }),
            None => self.finish(true, None, ctx),
        }
        Ok(())
    }
}

impl Handler<Drain> for Subscription {
    type Result = ResponseActFuture<Self, Result<(), Error>>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let conn = self.conn.drain.clone();
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
