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

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
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
    Close, Delivery, Drain, Flush, GetRtt, GetServerInfo, GetStats, Publish, Subscribe,
    SubscriptionHandle,
};
use crate::options::{ConnectOptions, ServerAddr};
use crate::proto::{ClientOp, Parser, ServerErrorKind, ServerInfo, ServerOp};
use crate::stats::StatsCounters;
use crate::subject::{validate_queue, validate_subscribe};
use crate::subscription::{End, PendingToken, SubShared, Subscription, SubscriptionInit};
use crate::supervisor::{ConnectionLost, EventBus, Supervisor};
use crate::transport::{BoxRead, BoxWrite, Transport};
use crate::writer::{self, Writer};
use crate::{Error, ErrorKind, Msg, Subject};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No transport yet (or between transports).
    Disconnected,
    Connected,
    Draining,
    Closed,
}

enum PongWaiter {
    /// Our keepalive PING.
    Keepalive,
    Flush(oneshot::Sender<Result<(), Error>>),
    Rtt(Instant, oneshot::Sender<Result<Duration, Error>>),
    DrainSub(u64, oneshot::Sender<Result<(), Error>>),
    DrainAll,
}

impl PongWaiter {
    fn fail(self, err: &Error) {
        match self {
            PongWaiter::Flush(tx) | PongWaiter::DrainSub(_, tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            PongWaiter::Rtt(_, tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            PongWaiter::Keepalive | PongWaiter::DrainAll => {}
        }
    }
}

/// Subscription ids are small sequential integers: hash them as is.
#[derive(Default)]
struct SidHasher(u64);

impl Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SidMap<V> = HashMap<u64, V, BuildHasherDefault<SidHasher>>;

/// A live subscription as the Connection routes it.
struct SubEntry {
    subject: Subject,
    queue: Option<Subject>,
    max: Option<u64>,
    delivered: u64,
    addr: Addr<Subscription>,
    delivery: Delivery,
    shared: Arc<SubShared>,
    limit_msgs: u64,
    limit_bytes: u64,
}

/// The Connection actor. Send it [`Publish`], [`Subscribe`], [`Flush`],
/// [`Drain`], [`Close`], [`GetStats`], [`GetRtt`] and [`GetServerInfo`];
/// get its address from [`Client::connection`](crate::Client::connection).
pub struct Connection {
    opts: Arc<ConnectOptions>,
    events: EventBus,
    supervisor: Option<Addr<Supervisor>>,
    stats: Arc<StatsCounters>,
    writer: Arc<Writer>,
    state: State,
    me: Option<Addr<Connection>>,
    generation: u64,
    read_handle: Option<SpawnHandle>,
    write_handle: Option<SpawnHandle>,
    info: Option<ServerInfo>,
    server: Option<ServerAddr>,
    pongs: VecDeque<PongWaiter>,
    pings_out: usize,
    subs: SidMap<SubEntry>,
    next_sid: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("server", &self.server.as_ref().map(ToString::to_string))
            .field("subs", &self.subs.len())
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
            opts,
            events,
            supervisor: None,
            stats,
            writer,
            state: State::Disconnected,
            me: None,
            generation: 0,
            read_handle: None,
            write_handle: None,
            info: None,
            server: None,
            pongs: VecDeque::new(),
            pings_out: 0,
            subs: SidMap::default(),
            next_sid: 1,
        }
    }

    fn connected(&self) -> bool {
        self.write_handle.is_some()
    }

    fn ping(&mut self, waiter: PongWaiter) -> Result<(), Error> {
        let err = match self.state {
            State::Closed => Some(Error::new(ErrorKind::Closed)),
            _ if !self.connected() => Some(Error::new(ErrorKind::NotConnected)),
            _ => None,
        };
        if let Some(err) = err {
            waiter.fail(&err);
            return Err(err);
        }
        self.pongs.push_back(waiter);
        self.writer.op(&ClientOp::Ping);
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
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
        self.info = Some(t.info);
        self.server = Some(t.server);
        self.pings_out = 0;
        // Replay subscriptions, with what remains of their max, ahead of
        // anything buffered.
        let mut replay = BytesMut::new();
        for (sid, s) in &self.subs {
            let _ = ClientOp::Subscribe {
                sid: *sid,
                subject: s.subject.clone(),
                queue_group: s.queue.clone(),
            }
            .encode(&mut replay);
            if let Some(max) = s.max {
                let _ = ClientOp::Unsubscribe {
                    sid: *sid,
                    max: Some(max.saturating_sub(s.delivered)),
                }
                .encode(&mut replay);
            }
        }
        if !replay.is_empty() {
            self.writer.prepend(replay);
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
        }));
        if self.state == State::Disconnected {
            self.state = State::Connected;
        }
        self.writer.set_state(writer::CONNECTED);
    }

    fn detach(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.read_handle.take() {
            ctx.cancel_future(h);
        }
        if let Some(h) = self.write_handle.take() {
            ctx.cancel_future(h);
        }
        let err = Error::new(ErrorKind::Disconnected);
        for w in self.pongs.drain(..) {
            w.fail(&err);
        }
    }

    /// The transport failed: tell the Supervisor, which decides.
    fn lost(&mut self, reason: Error, ctx: &mut Context<Self>) {
        if !self.connected() && self.read_handle.is_none() {
            return;
        }
        tracing::debug!(error = %reason, "connection lost");
        self.generation += 1;
        self.detach(ctx);
        if self.state != State::Closed {
            self.writer.set_state(writer::DISCONNECTED);
        }
        // Bytes not yet written are lost with the socket (at-most-once).
        self.writer.clear();
        if self.state == State::Connected {
            self.state = State::Disconnected;
        }
        if let Some(sup) = &self.supervisor {
            sup.do_send(ConnectionLost {
                server: self
                    .server
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason: Some(reason),
            });
        }
    }

    fn shutdown(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.writer.set_state(writer::CLOSED);
        self.generation += 1;
        self.detach(ctx);
        self.writer.clear();
        for (_, s) in self.subs.drain() {
            s.addr.do_send(End(None));
        }
        if let Some(sup) = &self.supervisor {
            sup.do_send(crate::supervisor::Closed { reason });
        }
        ctx.stop();
    }

    /// Ends a subscription from the connection's side: forget it (which
    /// ends its stream), optionally UNSUB, and tell its actor.
    fn end_sub(&mut self, sid: u64, unsub: bool, reason: Option<Error>) {
        if let Some(s) = self.subs.remove(&sid) {
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
        let Some(e) = self.subs.get_mut(&sid) else {
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
            // The server unsubscribed on its side.
            self.end_sub(sid, false, None);
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
                self.pings_out = 0;
                match self.pongs.pop_front() {
                    Some(PongWaiter::Flush(tx)) => {
                        let _ = tx.send(Ok(()));
                    }
                    Some(PongWaiter::Rtt(start, tx)) => {
                        let _ = tx.send(Ok(start.elapsed()));
                    }
                    Some(PongWaiter::DrainSub(sid, tx)) => {
                        // Every message for it has been routed; forgetting
                        // it ends its stream, and its actor stops itself.
                        self.subs.remove(&sid);
                        let _ = tx.send(Ok(()));
                    }
                    Some(PongWaiter::DrainAll) => {
                        let sids: Vec<u64> = self.subs.keys().copied().collect();
                        for sid in sids {
                            self.end_sub(sid, false, None);
                        }
                        self.close_gracefully(None, ctx);
                    }
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
                        let sid = self
                            .subs
                            .iter()
                            .find(|(_, s)| {
                                s.subject.as_str() == subject
                                    && s.queue.as_ref().map(|q| q.as_str().to_string()) == queue
                            })
                            .map(|(sid, _)| *sid);
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
                            sup.do_send(crate::supervisor::AsyncServerError(e));
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
        let old = self.info.take().unwrap_or_default();
        if !self.opts.ignore_cluster_updates && old.connect_urls != info.connect_urls {
            let added: Vec<String> = info
                .connect_urls
                .iter()
                .filter(|u| !old.connect_urls.contains(u))
                .cloned()
                .collect();
            let deleted: Vec<String> = old
                .connect_urls
                .iter()
                .filter(|u| !info.connect_urls.contains(u))
                .cloned()
                .collect();
            if let Some(sup) = &self.supervisor {
                sup.do_send(crate::supervisor::ServersUpdate {
                    urls: info.connect_urls.clone(),
                });
            }
            self.events.emit(Event::ServersChanged { added, deleted });
        }
        if info.lame_duck_mode && !old.lame_duck_mode {
            self.events.emit(Event::LameDuckMode {
                server: self
                    .server
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            });
        }
        self.writer.set_server_info(&info);
        self.info = Some(info);
    }

    /// Closes once everything buffered is written (at most a second).
    fn close_gracefully(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.state == State::Closed {
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
        let interval = self.opts.ping_interval;
        ctx.run_interval(interval, |act, ctx| {
            if !act.connected() || act.state == State::Closed {
                return;
            }
            if act.pings_out >= act.opts.max_ping_out {
                let err =
                    Error::with_source(ErrorKind::TimedOut, "stale connection: PINGs unanswered");
                act.events.emit(Event::Error(err.clone()));
                act.lost(err, ctx);
                return;
            }
            act.pings_out += 1;
            let _ = act.ping(PongWaiter::Keepalive);
        });
    }
}

/// Installs a transport (from the Supervisor).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach(pub(crate) Transport, pub(crate) Addr<Supervisor>);

impl Handler<Attach> for Connection {
    type Result = ();
    fn handle(&mut self, Attach(t, sup): Attach, ctx: &mut Context<Self>) {
        self.supervisor = Some(sup);
        if self.state == State::Closed {
            return;
        }
        self.attach(t, ctx);
    }
}

/// Removes a subscription from the routing table (its actor ended it),
/// sending UNSUB when asked.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct RemoveSub {
    pub(crate) sid: u64,
    pub(crate) unsub: bool,
}

impl Handler<RemoveSub> for Connection {
    type Result = ();
    fn handle(&mut self, msg: RemoveSub, _: &mut Context<Self>) {
        if self.subs.remove(&msg.sid).is_some() && msg.unsub && self.connected() {
            self.writer.op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: None,
            });
        }
    }
}

/// Sets the auto-unsubscribe count of a subscription.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SetMax {
    pub(crate) sid: u64,
    pub(crate) max: u64,
}

impl Handler<SetMax> for Connection {
    type Result = ();
    fn handle(&mut self, msg: SetMax, _: &mut Context<Self>) {
        let Some(s) = self.subs.get_mut(&msg.sid) else {
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

/// Drains one subscription: UNSUB, then a PING/PONG; when the PONG
/// arrives every message for it has been delivered and it ends.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct DrainSub {
    pub(crate) sid: u64,
}

impl Handler<DrainSub> for Connection {
    type Result = ResponseFuture<Result<(), Error>>;
    fn handle(&mut self, msg: DrainSub, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.subs.contains_key(&msg.sid) && self.connected() {
            self.writer.op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: None,
            });
            if let Err(e) = self.ping(PongWaiter::DrainSub(msg.sid, tx)) {
                return Box::pin(async move { Err(e) });
            }
        } else {
            self.subs.remove(&msg.sid);
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
            tracing::debug!(error = %e, subject = %msg.subject, "publish rejected");
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
        let sid = self.next_sid;
        self.next_sid += 1;
        let shared = Arc::new(SubShared::new(Some(self.writer.clone())));
        let addr = Subscription::new(SubscriptionInit {
            sid,
            subject: msg.subject.clone(),
            shared: shared.clone(),
            conn: me,
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
        self.subs.insert(
            sid,
            SubEntry {
                subject: msg.subject.clone(),
                queue: msg.options.queue,
                max: msg.options.max,
                delivered: 0,
                addr: addr.clone(),
                delivery: msg.delivery,
                shared: shared.clone(),
                limit_msgs: limit_msgs as u64,
                limit_bytes: limit_bytes as u64,
            },
        );
        Ok(SubscriptionHandle {
            sid,
            subject: msg.subject,
            addr,
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
        MessageResult(self.info.clone())
    }
}

impl Handler<Drain> for Connection {
    type Result = Result<(), Error>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.check_open()?;
        if !self.connected() {
            return Err(Error::new(ErrorKind::NotConnected));
        }
        self.state = State::Draining;
        let sids: Vec<u64> = self.subs.keys().copied().collect();
        for sid in sids {
            self.writer.op(&ClientOp::Unsubscribe { sid, max: None });
        }
        self.pongs.push_back(PongWaiter::DrainAll);
        self.writer.op(&ClientOp::Ping);
        Ok(())
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
                    act.lost(e.into(), ctx);
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// IO slices per vectored write.
const IOV: usize = 128;

/// Writes the shared buffer to the socket, a whole batch of segments at a
/// time, with vectored writes.
struct WriteLoop {
    io: BoxWrite,
    current: Vec<Bytes>,
    idx: usize,
    generation: u64,
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
            if this.idx == this.current.len() {
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
