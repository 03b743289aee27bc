//! The Connection actor: owns the socket.
//!
//! Writes are encoded straight into one shared buffer that a
//! write loop swaps out and writes whole whenever the actor runs (never one
//! syscall per message). Reads are decoded in place by the sans-IO
//! [`Parser`] and routed by subscription id straight
//! to each subscription's delivery (the Subscription actor keeps the state
//! and lifecycle). It answers server PINGs, sends its own every
//! `ping_interval`, and declares the link stale after `max_ping_out`
//! unanswered. It decides no policy: on loss it tells the Supervisor.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;

use crate::event::Event;
use crate::messages::{
    AsyncServerError, Closed, ConnLink, ConnectionLost, DrainSub, End, EventBus, LameDuck,
    RemoveSub, ServersUpdate, SetMax, SupervisorLink,
};
use crate::messages::{
    Close, Delivery, Drain, Flush, GetRtt, GetServerInfo, GetStats, Publish, Subscribe,
    SubscriptionHandle,
};
use crate::options::{ConnectOptions, ServerAddr};
use crate::pending::{PendingToken, SubShared};
use crate::proto::{ClientOp, Parser, ServerErrorKind, ServerInfo, ServerOp};
use crate::session::{PongWaiter, Session, SubEntry};
use crate::stats::StatsCounters;
use crate::subject::{validate_queue, validate_subscribe};
use crate::subscription::{Subscription, SubscriptionInit};
use crate::transport::{BoxRead, BoxWrite, Transport};
use crate::writer::{State, Writer};
use crate::{Error, ErrorKind, Msg, Subject};

/// The Connection actor. Send it [`Publish`], [`Subscribe`], [`Flush`],
/// [`Drain`], [`Close`], [`GetStats`], [`GetRtt`] and [`GetServerInfo`];
/// get its address from [`Client::connection`](crate::Client::connection).
pub struct Connection {
    _live: crate::stats::LiveActor,
    opts: Arc<ConnectOptions>,
    events: EventBus,
    supervisor: Option<SupervisorLink>,
    stats: Arc<StatsCounters>,
    writer: Arc<Writer>,
    me: Option<Addr<Connection>>,
    generation: u64,
    read_handle: Option<SpawnHandle>,
    write_handle: Option<SpawnHandle>,
    server: Option<ServerAddr>,
    session: Session,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.writer.state())
            .field("server", &self.server.as_ref().map(ToString::to_string))
            .field("subs", &self.session.subs.len())
            .field("buffered", &self.writer.buffered())
            .finish()
    }
}

impl Connection {
    pub(crate) fn new(
        opts: Arc<ConnectOptions>,
        events: EventBus,
        stats: Arc<StatsCounters>,
        writer: Arc<Writer>,
    ) -> Connection {
        Connection {
            _live: crate::stats::LiveActor::new(),
            opts,
            events,
            supervisor: None,
            stats,
            writer,
            me: None,
            generation: 0,
            read_handle: None,
            write_handle: None,
            server: None,
            session: Session::default(),
        }
    }

    fn connected(&self) -> bool {
        self.write_handle.is_some()
    }

    /// The one state, kept by the shared writer (publishers check it
    /// without a message).
    fn state(&self) -> State {
        self.writer.state()
    }

    fn ping(&mut self, waiter: PongWaiter) -> Result<(), Error> {
        let err = match self.state() {
            State::Closed => Some(Error::new(ErrorKind::Closed)),
            // A flush made while reconnecting waits for the new transport:
            // its PING goes out after the replay and the buffered
            // publishes, so its PONG says the server has them.
            State::Reconnecting | State::Draining
                if !self.connected() && matches!(waiter, PongWaiter::Flush(_)) =>
            {
                None
            }
            _ if !self.connected() => Some(Error::new(ErrorKind::NotConnected)),
            _ => None,
        };
        if let Some(err) = err {
            waiter.fail(&err);
            return Err(err);
        }
        self.session.pongs.push_back(waiter);
        if self.connected() {
            self.writer.op(&ClientOp::Ping);
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state() {
            State::Closed => Err(Error::new(ErrorKind::Closed)),
            State::Draining => Err(Error::with_source(
                ErrorKind::Closed,
                "the connection is draining",
            )),
            _ => Ok(()),
        }
    }

    fn attach(&mut self, t: Transport, ctx: &mut Context<Self>) {
        self.detach(ctx);
        self.generation += 1;
        let generation = self.generation;
        self.writer.set_server_info(&t.info);
        self.session.info = Some(t.info);
        self.server = Some(t.server);
        self.session.pings_out = 0;
        let draining = self.state() == State::Draining;
        // Replay the subscriptions, with what remains of their max, ahead
        // of anything buffered while disconnected. A drain asked for while
        // disconnected wants no new messages: nothing to replay.
        let mut replay = BytesMut::new();
        if !draining {
            self.session.replay(&mut replay);
        }
        if !replay.is_empty() {
            self.writer.prepend(replay);
        }
        // Flushes made while disconnected: their PINGs follow the buffered
        // publishes.
        for _ in 0..self.session.pongs.len() {
            self.writer.op(&ClientOp::Ping);
        }
        self.read_handle = Some(ctx.spawn(ReadLoop {
            io: t.read,
            buf: {
                let mut b = BytesMut::with_capacity(READ_CHUNK.max(t.leftover.len()));
                b.extend_from_slice(&t.leftover);
                b
            },
            parser: Parser::new(crate::transport::limits(&self.opts)),
            generation,
        }));
        self.write_handle = Some(ctx.spawn(WriteLoop {
            io: t.write,
            current: Vec::new(),
            idx: 0,
            generation,
            stage: t.tls.then(Stage::default),
        }));
        if draining {
            self.session.pongs.push_back(PongWaiter::DrainAll);
            self.writer.op(&ClientOp::Ping);
        } else {
            self.writer.set_state(State::Connected);
        }
    }

    fn detach(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.read_handle.take() {
            ctx.cancel_future(h);
        }
        if let Some(h) = self.write_handle.take() {
            ctx.cancel_future(h);
        }
    }

    /// The transport failed: keep what survives it and tell the
    /// Supervisor, which decides (reconnect, or close).
    fn lost(&mut self, reason: Error, ctx: &mut Context<Self>) {
        self.lost_with(Some(reason), ctx);
    }

    /// [`Connection::lost`]; `None` for a loss the client asked for
    /// (`force_reconnect`).
    fn lost_with(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if !self.connected() && self.read_handle.is_none() {
            return;
        }
        if let Some(r) = &reason {
            tracing::debug!(error = %r, "connection lost");
        }
        self.generation += 1;
        self.detach(ctx);
        let err = Error::new(ErrorKind::Disconnected);
        self.session.transport_lost(&err);
        if self.state() == State::Connected {
            self.writer.set_state(State::Reconnecting);
        }
        let kept = self.writer.transport_lost();
        if kept > 0 {
            tracing::debug!(kept, "unwritten publishes kept for the next transport");
        }
        if let Some(sup) = &self.supervisor {
            sup.lost.do_send(ConnectionLost {
                server: self
                    .server
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason,
            });
        }
    }

    fn shutdown(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.state() == State::Closed {
            return;
        }
        self.writer.set_state(State::Closed);
        self.generation += 1;
        self.detach(ctx);
        let err = Error::new(ErrorKind::Closed);
        self.session.fail_pongs(&err);
        self.writer.clear();
        for (_, s) in self.session.subs.drain() {
            s.addr.do_send(End(None));
        }
        if let Some(sup) = &self.supervisor {
            sup.closed.do_send(Closed { reason });
        }
        ctx.stop();
    }

    /// Ends a subscription from the connection's side: forget it (which
    /// ends its stream), optionally UNSUB, and tell its actor.
    fn end_sub(&mut self, sid: u64, unsub: bool, reason: Option<Error>) {
        if let Some(s) = self.session.subs.remove(&sid) {
            if unsub && self.connected() {
                self.writer.op(&ClientOp::Unsubscribe { sid, max: None });
            }
            s.addr.do_send(End(reason));
        }
    }

    /// Routes one message to its subscription, applying the pending
    /// limits (drop newest, count, one event per episode).
    fn route(
        &mut self,
        sid: u64,
        subject: Subject,
        reply: Option<Subject>,
        headers: Option<crate::HeaderMap>,
        payload: Bytes,
    ) {
        let Some(e) = self.session.subs.get_mut(&sid) else {
            return;
        };
        let bytes = payload.len() as u64;
        self.stats.in_msgs.fetch_add(1, Relaxed);
        self.stats.in_bytes.fetch_add(bytes, Relaxed);
        if self.opts.debug {
            tracing::debug!(target: "nats_actix::trace", "<<- MSG {} {} {:?} {} bytes", subject, sid, reply, bytes);
        }
        e.delivered += 1;
        let sh = &e.shared;
        sh.received.fetch_add(1, Relaxed);
        let mut alive = true;
        if sh.pending_msgs.load(Relaxed) >= e.limit_msgs
            || sh.pending_bytes.load(Relaxed) + bytes > e.limit_bytes
        {
            sh.dropped.fetch_add(1, Relaxed);
            if !sh.slow.swap(true, Relaxed) {
                self.events.emit(Event::SlowConsumer {
                    sid,
                    subject: e.subject.to_string(),
                });
            }
        } else {
            if sh.slow.load(Relaxed) {
                sh.slow.store(false, Relaxed);
            }
            sh.pending_msgs.fetch_add(1, Relaxed);
            sh.pending_bytes.fetch_add(bytes, Relaxed);
            let msg = Msg {
                subject,
                reply,
                headers,
                payload,
                sid,
                writer: None,
                token: Some(PendingToken::new(sh.clone(), bytes)),
            };
            alive = match &e.delivery {
                Delivery::Actor(r) => {
                    r.do_send(msg);
                    r.connected()
                }
                Delivery::Channel(tx) => tx.send(msg).is_ok(),
                Delivery::Func(f) => f(msg),
            };
        }
        if !alive {
            // The stream or the actor is gone: nobody listens any more.
            self.end_sub(sid, true, None);
        } else if e.max.is_some_and(|m| e.delivered >= m) {
            // The server usually unsubscribed on its side already, but not
            // always (a 503 no-responders status does not count towards
            // its max): an UNSUB for a sid it forgot is harmless.
            self.end_sub(sid, true, None);
        }
    }

    fn handle_op(&mut self, op: ServerOp, ctx: &mut Context<Self>) {
        match op {
            ServerOp::Msg {
                sid,
                subject,
                reply,
                headers,
                payload,
            } => self.route(sid, subject, reply, headers, payload),
            ServerOp::Ping => {
                if self.opts.debug {
                    tracing::debug!(target: "nats_actix::trace", "<<- PING");
                }
                self.writer.op(&ClientOp::Pong);
            }
            ServerOp::Pong => {
                if self.opts.debug {
                    tracing::debug!(target: "nats_actix::trace", "<<- PONG");
                }
                self.session.pings_out = 0;
                match self.session.pongs.pop_front() {
                    Some(PongWaiter::Flush(tx)) => {
                        let _ = tx.send(Ok(()));
                    }
                    Some(PongWaiter::Rtt(start, tx)) => {
                        let _ = tx.send(Ok(start.elapsed()));
                    }
                    Some(PongWaiter::DrainSub(sid, tx)) => {
                        // Every message for it has been routed; forgetting
                        // it ends its stream, and its actor stops itself.
                        self.session.subs.remove(&sid);
                        let _ = tx.send(Ok(()));
                    }
                    Some(PongWaiter::DrainAll) => self.finish_drain(ctx),
                    Some(PongWaiter::Keepalive) | None => {}
                }
            }
            ServerOp::Malformed {
                sid,
                error,
                subject,
                raw,
            } => {
                // A peer's bad bytes spoil one message, never the link.
                self.stats.malformed.fetch_add(1, Relaxed);
                let subject = String::from_utf8_lossy(&subject).into_owned();
                tracing::debug!(sid, %subject, %error, "malformed message dropped");
                self.events.emit(Event::Error(Error::with_source(
                    ErrorKind::MalformedMessage,
                    format!(
                        "message on subscription {sid} (subject {subject:?}, {} bytes) dropped: {error}",
                        raw.len()
                    ),
                )));
            }
            ServerOp::Ok => {}
            ServerOp::Info(info) => self.update_info(*info),
            ServerOp::Err(e) => {
                tracing::debug!(error = %e, "server error");
                match e.kind() {
                    ServerErrorKind::SubscriptionPermissionViolation => {
                        let subject = e.subject().unwrap_or_default().to_string();
                        let queue = e.queue().map(str::to_string);
                        let sid = self.session.find(&subject, queue.as_deref());
                        match sid {
                            Some(sid) => self.end_sub(sid, false, Some(e.into())),
                            None => self.events.emit(Event::Error(e.into())),
                        }
                    }
                    kind if kind.closes_connection() => {
                        let err: Error = e.into();
                        self.events.emit(Event::Error(err.clone()));
                        self.lost(err, ctx);
                    }
                    _ => {
                        if let Some(sup) = &self.supervisor {
                            sup.server_error.do_send(AsyncServerError(e));
                        }
                    }
                }
            }
        }
    }

    fn update_info(&mut self, info: ServerInfo) {
        if self.opts.debug {
            tracing::debug!(target: "nats_actix::trace", "<<- INFO {:?}", info);
        }
        let old_ldm = self.session.info.as_ref().is_some_and(|i| i.lame_duck_mode);
        if let Some(sup) = &self.supervisor {
            // The Supervisor owns the pool: it applies `connect_urls` and
            // reports what changed.
            sup.servers.do_send(ServersUpdate {
                urls: info.connect_urls.clone(),
            });
            if info.lame_duck_mode && !old_ldm {
                sup.lame_duck.do_send(LameDuck);
            }
        }
        self.writer.set_server_info(&info);
        self.session.info = Some(info);
    }

    /// The drain's PONG came: the server sends nothing more for any
    /// subscription. Waits until every message already delivered has been
    /// handled (dropped by its handler or stream reader), bounded by
    /// `drain_timeout`; then ends the subscriptions, makes a flush round
    /// trip so that the replies sent while handling are on the server, and
    /// closes. Past the timeout, the close carries a `TimedOut` reason.
    fn finish_drain(&mut self, ctx: &mut Context<Self>) {
        // Every kind of delivery: actors, channels, and functions (typed
        // adapters, service endpoints). Request replies hold no pending
        // slot once resolved, so callers keeping them do not hold a drain.
        let pending: Vec<Arc<SubShared>> = self
            .session
            .subs
            .values()
            .map(|s| s.shared.clone())
            .collect();
        let timeout = self.opts.drain_timeout;
        ctx.spawn(
            async move {
                let start = tokio::time::Instant::now();
                loop {
                    let left: u64 = pending.iter().map(|s| s.pending()).sum();
                    if left == 0 {
                        return None;
                    }
                    if start.elapsed() >= timeout {
                        return Some(Error::with_source(
                            ErrorKind::TimedOut,
                            format!(
                                "drain timed out after {timeout:?} with {left} messages not yet handled"
                            ),
                        ));
                    }
                    tokio::time::sleep(DRAIN_POLL).await;
                }
            }
            .into_actor(self)
            .map(|reason, act: &mut Connection, _| {
                // Through the mailbox: replies queued there while the
                // messages were handled are written first.
                if let Some(me) = &act.me {
                    me.do_send(DrainDone(reason));
                }
            }),
        );
    }

    /// The second half of a drain: every delivered message was handled.
    fn drain_done(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        ctx.spawn(fut::ready(reason).then(|reason, act: &mut Connection, _| {
            let mut sids: Vec<u64> = act.session.subs.keys().copied().collect();
            sids.sort_unstable();
            for sid in sids {
                act.end_sub(sid, false, None);
            }
            let (tx, rx) = oneshot::channel();
            let flushed = act.ping(PongWaiter::Flush(tx)).is_ok();
            let wait = act.opts.connection_timeout;
            async move {
                if flushed {
                    let _ = tokio::time::timeout(wait, rx).await;
                }
                reason
            }
            .into_actor(act)
            .map(|reason, act: &mut Connection, ctx| act.shutdown(reason, ctx))
        }));
    }

    /// Closes once everything buffered is written (at most a second).
    fn close_gracefully(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.state() == State::Closed {
            return;
        }
        let writer = self.writer.clone();
        ctx.spawn(
            async move { writer.wait_idle(Duration::from_secs(1)).await }
                .into_actor(self)
                .then(move |_, act: &mut Connection, ctx| {
                    act.shutdown(reason, ctx);
                    fut::ready(())
                }),
        );
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        self.me = Some(ctx.address());
        self.writer.set_connection(ctx.address().recipient());
        let interval = self.opts.ping_interval;
        ctx.run_interval(interval, |act, ctx| {
            if !act.connected() || act.state() == State::Closed {
                return;
            }
            if act.session.pings_out >= act.opts.max_ping_out {
                let err =
                    Error::with_source(ErrorKind::TimedOut, "stale connection: PINGs unanswered");
                act.events.emit(Event::Error(err.clone()));
                act.lost(err, ctx);
                return;
            }
            act.session.pings_out += 1;
            let _ = act.ping(PongWaiter::Keepalive);
        });
    }
}

/// Installs a transport (from the Supervisor).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach(pub(crate) Transport, pub(crate) SupervisorLink);

impl Handler<Attach> for Connection {
    type Result = ();
    fn handle(&mut self, Attach(t, sup): Attach, ctx: &mut Context<Self>) {
        self.supervisor = Some(sup);
        if self.state() == State::Closed {
            return;
        }
        self.attach(t, ctx);
    }
}

impl Handler<RemoveSub> for Connection {
    type Result = ();
    fn handle(&mut self, msg: RemoveSub, _: &mut Context<Self>) {
        if self.session.subs.remove(&msg.sid).is_some() && msg.unsub && self.connected() {
            self.writer.op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: None,
            });
        }
    }
}

impl Handler<SetMax> for Connection {
    type Result = ();
    fn handle(&mut self, msg: SetMax, _: &mut Context<Self>) {
        let Some(s) = self.session.subs.get_mut(&msg.sid) else {
            return;
        };
        s.max = Some(msg.max);
        if s.delivered >= msg.max {
            self.end_sub(msg.sid, true, None);
        } else if self.connected() {
            self.writer.op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: Some(msg.max),
            });
        }
    }
}

impl Handler<DrainSub> for Connection {
    type Result = ResponseFuture<Result<(), Error>>;
    fn handle(&mut self, msg: DrainSub, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.session.subs.contains_key(&msg.sid) && self.connected() {
            self.writer.op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: None,
            });
            if let Err(e) = self.ping(PongWaiter::DrainSub(msg.sid, tx)) {
                return Box::pin(async move { Err(e) });
            }
        } else {
            self.session.subs.remove(&msg.sid);
            let _ = tx.send(Ok(()));
        }
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

impl Handler<Publish> for Connection {
    type Result = ResponseFuture<Result<(), Error>>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let res = self.writer.publish(
            &msg.subject,
            msg.reply.as_deref(),
            msg.headers.as_ref(),
            &msg.payload,
        );
        if let Err(e) = &res {
            // Loud: a `do_send(Publish)` (or a reply) has no one to return
            // the error to, so it is counted and raised as an event.
            tracing::debug!(error = %e, subject = %msg.subject, "publish rejected");
            self.stats.publish_errors.fetch_add(1, Relaxed);
            self.events.emit(Event::Error(Error::with_source(
                e.kind(),
                format!("publish to {} failed: {e}", msg.subject),
            )));
        }
        if res.is_ok() && self.writer.buffered() > self.writer.limit() {
            // Backpressure: answer once the buffer is drained.
            let writer = self.writer.clone();
            return Box::pin(async move { writer.wait_below_limit().await });
        }
        Box::pin(std::future::ready(res))
    }
}

impl Handler<Subscribe> for Connection {
    type Result = Result<SubscriptionHandle, Error>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        self.check_open()?;
        validate_subscribe(&msg.subject)?;
        if let Some(q) = &msg.options.queue {
            validate_queue(q)?;
        }
        let limit_msgs = msg
            .options
            .pending_msgs_limit
            .unwrap_or(self.opts.pending_msgs_limit);
        let limit_bytes = msg
            .options
            .pending_bytes_limit
            .unwrap_or(self.opts.pending_bytes_limit);
        if limit_msgs == 0 || limit_bytes == 0 {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                "pending limits must be greater than 0",
            ));
        }
        if msg.options.max == Some(0) {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                "max must be greater than 0",
            ));
        }
        let Some(me) = self.me.clone() else {
            return Err(Error::new(ErrorKind::Closed));
        };
        let conn = ConnLink {
            remove: me.clone().recipient(),
            set_max: me.clone().recipient(),
            drain: me.recipient(),
        };
        let sid = self.session.new_sid();
        let shared = Arc::new(SubShared::new(Some(self.writer.clone())));
        let addr = Subscription::new(SubscriptionInit {
            sid,
            subject: msg.subject.clone(),
            shared: shared.clone(),
            conn,
            timeout: msg.options.timeout,
            on_end: msg.options.on_end,
        })
        .start();
        if self.connected() {
            self.writer.op(&ClientOp::Subscribe {
                sid,
                subject: msg.subject.clone(),
                queue_group: msg.options.queue.clone(),
            });
            if let Some(max) = msg.options.max {
                self.writer.op(&ClientOp::Unsubscribe {
                    sid,
                    max: Some(max),
                });
            }
        }
        self.session.subs.insert(
            sid,
            SubEntry {
                subject: msg.subject.clone(),
                queue: msg.options.queue,
                max: msg.options.max,
                delivered: 0,
                addr: addr.clone().recipient(),
                delivery: msg.delivery,
                shared: shared.clone(),
                limit_msgs: limit_msgs as u64,
                limit_bytes: limit_bytes as u64,
            },
        );
        Ok(SubscriptionHandle {
            sid,
            subject: msg.subject,
            unsubscribe: addr.clone().recipient(),
            drain: addr.recipient(),
            shared,
        })
    }
}

impl Handler<Flush> for Connection {
    type Result = ResponseFuture<Result<(), Error>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.ping(PongWaiter::Flush(tx)) {
            return Box::pin(async move { Err(e) });
        }
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

impl Handler<GetRtt> for Connection {
    type Result = ResponseFuture<Result<Duration, Error>>;

    fn handle(&mut self, _: GetRtt, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.ping(PongWaiter::Rtt(Instant::now(), tx)) {
            return Box::pin(async move { Err(e) });
        }
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

impl Handler<GetStats> for Connection {
    type Result = MessageResult<GetStats>;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats.snapshot())
    }
}

impl Handler<GetServerInfo> for Connection {
    type Result = MessageResult<GetServerInfo>;
    fn handle(&mut self, _: GetServerInfo, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.session.info.clone())
    }
}

impl Handler<Drain> for Connection {
    type Result = Result<(), Error>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.check_open()?;
        if self.state() == State::Connecting {
            return Err(Error::new(ErrorKind::NotConnected));
        }
        // From here on, subscriptions and requests are refused; replies and
        // publishes still go out.
        self.writer.set_state(State::Draining);
        if self.connected() {
            let mut sids: Vec<u64> = self.session.subs.keys().copied().collect();
            sids.sort_unstable();
            for sid in sids {
                self.writer.op(&ClientOp::Unsubscribe { sid, max: None });
            }
            self.session.pongs.push_back(PongWaiter::DrainAll);
            self.writer.op(&ClientOp::Ping);
        }
        // Disconnected: the drain goes on once the Supervisor reconnects
        // (see `attach`), or ends with the close when it gives up.
        Ok(())
    }
}

/// Every message delivered before a drain was handled (from the drain's
/// own wait, through the mailbox).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct DrainDone(Option<Error>);

impl Handler<DrainDone> for Connection {
    type Result = ();
    fn handle(&mut self, DrainDone(reason): DrainDone, ctx: &mut Context<Self>) {
        self.drain_done(reason, ctx);
    }
}

/// Drops the transport and reconnects at once, to another server when the
/// pool has one (from the Supervisor, for `force_reconnect` and lame duck).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ForceReconnect;

impl Handler<ForceReconnect> for Connection {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: ForceReconnect, _: &mut Context<Self>) -> Self::Result {
        // A flush round trip first (bounded by the connection timeout):
        // what was published before the call reaches the server on this
        // link, and the messages it routes back to our own subscriptions
        // arrive before the link is dropped.
        let (tx, rx) = oneshot::channel();
        let flushing = self.ping(PongWaiter::Flush(tx)).is_ok();
        let wait = self.opts.connection_timeout;
        let generation = self.generation;
        Box::pin(
            async move {
                if flushing {
                    let _ = tokio::time::timeout(wait, rx).await;
                }
            }
            .into_actor(self)
            .map(move |_, act: &mut Connection, ctx| {
                if act.connected() && act.generation == generation {
                    act.lost_with(None, ctx);
                }
            }),
        )
    }
}

impl Handler<Close> for Connection {
    type Result = ();
    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        self.close_gracefully(None, ctx);
    }
}

/// Closes with a reason (from the Supervisor).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct CloseWith(pub(crate) Option<Error>);

impl Handler<CloseWith> for Connection {
    type Result = ();
    fn handle(&mut self, CloseWith(reason): CloseWith, ctx: &mut Context<Self>) {
        self.shutdown(reason, ctx);
    }
}

/// How often a drain checks that the delivered messages are handled.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per poll before yielding to the mailbox and other futures.
const READS_PER_POLL: usize = 8;

/// Reads the socket and handles every complete op in place: no stream
/// item, no message per op.
struct ReadLoop {
    io: BoxRead,
    buf: BytesMut,
    parser: Parser,
    generation: u64,
}

impl ActorFuture<Connection> for ReadLoop {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection,
        ctx: &mut Context<Connection>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        let mut reads = 0;
        loop {
            loop {
                if this.generation != act.generation {
                    return Poll::Ready(());
                }
                match this.parser.parse(&mut this.buf) {
                    Ok(Some(op)) => act.handle_op(op, ctx),
                    Ok(None) => break,
                    Err(e) => {
                        let err: Error = e.into();
                        act.events.emit(Event::Error(err.clone()));
                        act.lost(err, ctx);
                        return Poll::Ready(());
                    }
                }
            }
            if reads == READS_PER_POLL {
                task.waker().wake_by_ref();
                return Poll::Pending;
            }
            if this.buf.capacity() - this.buf.len() < READ_CHUNK / 4 {
                this.buf.reserve(READ_CHUNK);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), task, &mut this.buf) {
                Poll::Ready(Ok(0)) => {
                    act.lost(Error::new(ErrorKind::Disconnected), ctx);
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(_)) => reads += 1,
                Poll::Ready(Err(e)) => {
                    act.lost(crate::tls::io_error(e), ctx);
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// IO slices per vectored write.
const IOV: usize = 128;

/// Most bytes copied together for one write over TLS.
const COALESCE: usize = 64 * 1024;

/// The bytes of many segments copied together, for TLS: tokio-rustls turns
/// each slice of a vectored write into its own TLS record, so one publish
/// (several small segments) would become several records.
#[derive(Default)]
struct Stage {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
}

impl Stage {
    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Copies segments from `current[*idx..]` until about [`COALESCE`]
    /// bytes are staged (a larger segment is taken in parts).
    fn fill(&mut self, current: &mut [Bytes], idx: &mut usize) {
        self.buf.clear();
        self.pos = 0;
        while *idx < current.len() && self.buf.len() < COALESCE {
            let seg = &mut current[*idx];
            let take = seg.len().min(COALESCE - self.buf.len());
            self.buf.extend_from_slice(&seg[..take]);
            seg.advance(take);
            if seg.is_empty() {
                *idx += 1;
            }
        }
    }
}

/// Writes the shared buffer to the socket, a whole batch of segments at a
/// time, with vectored writes (or, over TLS, through a coalescing stage).
struct WriteLoop {
    io: BoxWrite,
    current: Vec<Bytes>,
    idx: usize,
    generation: u64,
    /// `Some` over TLS.
    stage: Option<Stage>,
}

impl ActorFuture<Connection> for WriteLoop {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection,
        ctx: &mut Context<Connection>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.generation != act.generation {
                return Poll::Ready(());
            }
            let staged = this.stage.as_ref().is_some_and(|st| !st.is_empty());
            if this.idx == this.current.len() && !staged {
                if !this.current.is_empty() {
                    this.idx = 0;
                    act.writer.wrote(std::mem::take(&mut this.current));
                }
                match act.writer.take(task.waker()) {
                    Some(segs) => {
                        this.current = segs;
                        continue;
                    }
                    None => {
                        return match Pin::new(&mut this.io).poll_flush(task) {
                            Poll::Ready(Err(e)) => {
                                act.lost(e.into(), ctx);
                                Poll::Ready(())
                            }
                            _ => Poll::Pending,
                        };
                    }
                }
            }
            if let Some(stage) = this.stage.as_mut() {
                if stage.is_empty() {
                    stage.fill(&mut this.current, &mut this.idx);
                    continue;
                }
                match Pin::new(&mut this.io).poll_write(task, &stage.buf[stage.pos..]) {
                    Poll::Ready(Ok(0)) => {
                        act.lost(
                            std::io::Error::new(std::io::ErrorKind::WriteZero, "socket closed")
                                .into(),
                            ctx,
                        );
                        return Poll::Ready(());
                    }
                    Poll::Ready(Ok(written)) => stage.pos += written,
                    Poll::Ready(Err(e)) => {
                        act.lost(crate::tls::io_error(e), ctx);
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            let mut iov = [std::io::IoSlice::new(&[]); IOV];
            let mut n = 0;
            for seg in &this.current[this.idx..] {
                if n == IOV {
                    break;
                }
                iov[n] = std::io::IoSlice::new(seg);
                n += 1;
            }
            match Pin::new(&mut this.io).poll_write_vectored(task, &iov[..n]) {
                Poll::Ready(Ok(0)) => {
                    act.lost(
                        std::io::Error::new(std::io::ErrorKind::WriteZero, "socket closed").into(),
                        ctx,
                    );
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(mut written)) => {
                    while written > 0 {
                        let seg = &mut this.current[this.idx];
                        if written >= seg.len() {
                            written -= seg.len();
                            this.idx += 1;
                        } else {
                            seg.advance(written);
                            written = 0;
                        }
                    }
                    // Skip empty segments so `idx == len` means done.
                    while this.idx < this.current.len() && this.current[this.idx].is_empty() {
                        this.idx += 1;
                    }
                }
                Poll::Ready(Err(e)) => {
                    act.lost(e.into(), ctx);
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_coalesces_segments_up_to_the_cap() {
        let big = vec![7u8; COALESCE + 10];
        let mut current = vec![
            Bytes::from_static(b"PUB a 5\r\n"),
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"\r\n"),
            Bytes::new(),
            Bytes::from(big),
            Bytes::from_static(b"PING\r\n"),
        ];
        let mut idx = 0;
        let mut stage = Stage::default();
        stage.fill(&mut current, &mut idx);
        assert_eq!(stage.buf.len(), COALESCE);
        assert!(stage.buf.starts_with(b"PUB a 5\r\nhello\r\n"));
        assert_eq!(idx, 4, "the large segment is taken in parts");
        stage.pos = stage.buf.len();
        assert!(stage.is_empty());
        stage.fill(&mut current, &mut idx);
        assert_eq!(stage.buf.len(), 16 + 10 + 6);
        assert!(stage.buf.ends_with(b"\x07PING\r\n"));
        assert_eq!(idx, current.len());
    }
}
