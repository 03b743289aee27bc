//! The Connection actor: owns the socket.
//!
//! Writes are encoded straight into one buffer that a write loop drains in
//! large writes whenever the actor's mailbox runs dry (never one syscall
//! per message). Reads are decoded by the sans-IO [`Parser`](crate::proto::Parser)
//! and routed by subscription id. It answers server PINGs, sends its own
//! every `ping_interval`, and declares the link stale after `max_ping_out`
//! unanswered. It decides no policy: on loss it tells the Supervisor.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::{Buf, BytesMut};
use futures_core::Stream;
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;

use crate::event::Event;
use crate::messages::{
    Close, Drain, Flush, GetRtt, GetServerInfo, GetStats, Publish, Subscribe, SubscriptionHandle,
};
use crate::options::{ConnectOptions, ServerAddr};
use crate::proto::codec::NatsCodec;
use crate::proto::{ClientOp, ProtoError, ServerErrorKind, ServerInfo, ServerOp, encode_pub};
use crate::stats::StatsCounters;
use crate::subject::{validate_publish, validate_queue, validate_subscribe};
use crate::subscription::{Deliver, End, SubShared, Subscription, SubscriptionInit};
use crate::supervisor::{ConnectionLost, EventBus, Supervisor};
use crate::transport::{BoxWrite, Prefixed, Transport};
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

#[derive(Debug)]
struct SubEntry {
    subject: Subject,
    queue: Option<Subject>,
    max: Option<u64>,
    delivered: u64,
    addr: Addr<Subscription>,
}

/// The Connection actor. Send it [`Publish`], [`Subscribe`], [`Flush`],
/// [`Drain`], [`Close`], [`GetStats`], [`GetRtt`] and [`GetServerInfo`];
/// get its address from [`Client::connection`](crate::Client::connection).
pub struct Connection {
    opts: Arc<ConnectOptions>,
    events: EventBus,
    supervisor: Option<Addr<Supervisor>>,
    stats: Arc<StatsCounters>,
    state: State,
    me: Option<Addr<Connection>>,
    out: BytesMut,
    write_waker: Option<Waker>,
    drain_wakers: Vec<Waker>,
    generation: u64,
    read_handle: Option<SpawnHandle>,
    write_handle: Option<SpawnHandle>,
    info: Option<ServerInfo>,
    server: Option<ServerAddr>,
    max_payload: usize,
    pongs: VecDeque<PongWaiter>,
    pings_out: usize,
    subs: HashMap<u64, SubEntry>,
    next_sid: u64,
    close_reason: Option<Error>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("server", &self.server.as_ref().map(ToString::to_string))
            .field("subs", &self.subs.len())
            .field("buffered", &self.out.len())
            .finish()
    }
}

impl Connection {
    pub(crate) fn new(
        opts: Arc<ConnectOptions>,
        events: EventBus,
        stats: Arc<StatsCounters>,
    ) -> Connection {
        Connection {
            opts,
            events,
            supervisor: None,
            stats,
            state: State::Disconnected,
            me: None,
            out: BytesMut::with_capacity(64 * 1024),
            write_waker: None,
            drain_wakers: Vec::new(),
            generation: 0,
            read_handle: None,
            write_handle: None,
            info: None,
            server: None,
            max_payload: usize::MAX,
            pongs: VecDeque::new(),
            pings_out: 0,
            subs: HashMap::new(),
            next_sid: 1,
            close_reason: None,
        }
    }

    fn kick(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    fn write_op(&mut self, op: &ClientOp) {
        if let Err(e) = op.encode(&mut self.out) {
            self.events.emit(Event::Error(e.into()));
        }
        if self.opts.debug {
            // Wire form (CONNECT, which carries secrets, never passes here).
            let mut wire = BytesMut::new();
            let _ = op.encode(&mut wire);
            let text = String::from_utf8_lossy(&wire);
            tracing::debug!(target: "nats_actix::trace", "->> {}", text.trim_end());
        }
        self.kick();
    }

    fn ping(&mut self, waiter: PongWaiter) -> Result<(), Error> {
        if self.state == State::Closed {
            waiter.fail(&Error::new(ErrorKind::Closed));
            return Err(Error::new(ErrorKind::Closed));
        }
        if self.write_handle.is_none() {
            waiter.fail(&Error::new(ErrorKind::NotConnected));
            return Err(Error::new(ErrorKind::NotConnected));
        }
        self.pongs.push_back(waiter);
        self.write_op(&ClientOp::Ping);
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            State::Closed => Err(Error::new(ErrorKind::Closed)),
            State::Draining => Err(Error::with_source(
                ErrorKind::Closed,
                crate::transport::Msg("the connection is draining".into()),
            )),
            _ => Ok(()),
        }
    }

    /// Validates and encodes a publish.
    fn publish(&mut self, p: &Publish) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::new(ErrorKind::Closed));
        }
        validate_publish(&p.subject)?;
        if let Some(r) = &p.reply {
            validate_publish(r)?;
        }
        let hlen = match &p.headers {
            Some(h) => {
                h.validate()?;
                h.encoded_len()
            }
            None => 0,
        };
        let size = hlen + p.payload.len();
        if size > self.max_payload {
            return Err(Error::with_source(
                ErrorKind::MaxPayloadExceeded,
                crate::transport::Msg(format!(
                    "message of {size} bytes exceeds the server's max_payload of {}",
                    self.max_payload
                )),
            ));
        }
        if self.write_handle.is_none() {
            return Err(Error::new(ErrorKind::NotConnected));
        }
        if self.out.len() >= 2 * self.opts.write_buffer_limit {
            return Err(Error::with_source(
                ErrorKind::BufferFull,
                crate::transport::Msg(format!(
                    "write buffer holds {} bytes, over twice the limit of {}",
                    self.out.len(),
                    self.opts.write_buffer_limit
                )),
            ));
        }
        encode_pub(
            &mut self.out,
            p.subject.as_bytes(),
            p.reply.as_ref().map(|r| &r.as_bytes()[..]),
            p.headers.as_ref(),
            &p.payload,
        )?;
        if self.opts.debug {
            tracing::debug!(target: "nats_actix::trace", "->> PUB {} {:?} {} bytes", p.subject, p.reply, size);
        }
        self.stats
            .out_msgs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .out_bytes
            .fetch_add(size as u64, std::sync::atomic::Ordering::Relaxed);
        self.kick();
        Ok(())
    }

    fn attach(&mut self, t: Transport, ctx: &mut Context<Self>) {
        self.detach(ctx);
        self.generation += 1;
        let generation = self.generation;
        self.max_payload = t.info.max_payload.max(1);
        self.info = Some(t.info);
        self.server = Some(t.server);
        self.pings_out = 0;
        let read = Prefixed {
            prefix: t.leftover,
            inner: t.read,
        };
        let codec = NatsCodec::new(crate::transport::limits(&self.opts));
        let framed = FramedRead::with_capacity(read, codec, 64 * 1024);
        self.read_handle = Some(ctx.add_stream(Tagged {
            generation,
            inner: framed,
            done: false,
        }));
        // Replay subscriptions, with what remains of their max.
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
                    max: Some(max),
                }
                .encode(&mut replay);
            }
        }
        if !replay.is_empty() {
            replay.extend_from_slice(&self.out);
            self.out = replay;
        }
        self.write_handle = Some(ctx.spawn(WriteLoop {
            io: Some(t.write),
            generation,
        }));
        if self.state == State::Disconnected {
            self.state = State::Connected;
        }
    }

    fn detach(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.read_handle.take() {
            ctx.cancel_future(h);
        }
        if let Some(h) = self.write_handle.take() {
            ctx.cancel_future(h);
        }
        self.write_waker = None;
        for w in self.drain_wakers.drain(..) {
            w.wake();
        }
        let err = Error::new(ErrorKind::Disconnected);
        for w in self.pongs.drain(..) {
            w.fail(&err);
        }
    }

    /// The transport failed: tell the Supervisor, which decides.
    fn lost(&mut self, reason: Error, ctx: &mut Context<Self>) {
        if self.write_handle.is_none() && self.read_handle.is_none() {
            return;
        }
        tracing::debug!(error = %reason, "connection lost");
        self.detach(ctx);
        // Bytes not yet written are lost with the socket (at-most-once).
        self.out.clear();
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
        self.close_reason = reason.clone();
        self.detach(ctx);
        for (_, s) in self.subs.drain() {
            s.addr.do_send(End(None));
        }
        if let Some(sup) = &self.supervisor {
            sup.do_send(crate::supervisor::Closed { reason });
        }
        ctx.stop();
    }

    fn handle_op(&mut self, op: ServerOp, ctx: &mut Context<Self>) {
        match op {
            ServerOp::Msg {
                sid,
                subject,
                reply,
                headers,
                payload,
            } => {
                let Some(entry) = self.subs.get_mut(&sid) else {
                    return;
                };
                use std::sync::atomic::Ordering::Relaxed;
                self.stats.in_msgs.fetch_add(1, Relaxed);
                self.stats.in_bytes.fetch_add(payload.len() as u64, Relaxed);
                if self.opts.debug {
                    tracing::debug!(target: "nats_actix::trace", "<<- MSG {} {} {:?} {} bytes", subject, sid, reply, payload.len());
                }
                entry.delivered += 1;
                entry.addr.do_send(Deliver(Msg {
                    subject,
                    reply,
                    headers,
                    payload,
                    sid,
                    conn: self.me.clone(),
                    token: None,
                }));
                if entry.max.is_some_and(|m| entry.delivered >= m) {
                    self.subs.remove(&sid);
                }
            }
            ServerOp::Ping => {
                if self.opts.debug {
                    tracing::debug!(target: "nats_actix::trace", "<<- PING");
                }
                self.write_op(&ClientOp::Pong);
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
                        // Every message for it has been routed; the
                        // Subscription ends itself behind them.
                        self.subs.remove(&sid);
                        let _ = tx.send(Ok(()));
                    }
                    Some(PongWaiter::DrainAll) => {
                        for (_, s) in self.subs.drain() {
                            s.addr.do_send(End(None));
                        }
                        self.close_gracefully(None, ctx);
                    }
                    Some(PongWaiter::Keepalive) | None => {}
                }
            }
            ServerOp::Ok => {}
            ServerOp::Info(info) => {
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
                if info.max_payload > 0 {
                    self.max_payload = info.max_payload;
                }
                self.info = Some(*info);
            }
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
                        match sid.and_then(|sid| self.subs.remove(&sid)) {
                            Some(s) => s.addr.do_send(End(Some(e.into()))),
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

    fn close_gracefully(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        if self.state == State::Closed {
            return;
        }
        // Give the write loop up to a second to write what is buffered.
        let deadline = Instant::now() + Duration::from_secs(1);
        let fallback = reason.clone();
        ctx.run_later(Duration::from_secs(1), move |act, ctx| {
            act.shutdown(fallback, ctx)
        });
        ctx.spawn(
            WaitDrained { deadline, low: 0 }.then(move |_, act: &mut Connection, ctx| {
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
            if act.write_handle.is_none() || act.state == State::Closed {
                return;
            }
            if act.pings_out >= act.opts.max_ping_out {
                act.events.emit(Event::Error(Error::with_source(
                    ErrorKind::TimedOut,
                    crate::transport::Msg("stale connection: PINGs unanswered".into()),
                )));
                act.lost(
                    Error::with_source(
                        ErrorKind::TimedOut,
                        crate::transport::Msg("stale connection".into()),
                    ),
                    ctx,
                );
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

/// Removes a subscription from the routing table (the Subscription actor
/// ended), sending UNSUB when asked.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct RemoveSub {
    pub(crate) sid: u64,
    pub(crate) unsub: bool,
}

impl Handler<RemoveSub> for Connection {
    type Result = ();
    fn handle(&mut self, msg: RemoveSub, _: &mut Context<Self>) {
        if self.subs.remove(&msg.sid).is_some() && msg.unsub && self.write_handle.is_some() {
            self.write_op(&ClientOp::Unsubscribe {
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
        if let Some(s) = self.subs.get_mut(&msg.sid) {
            s.max = Some(msg.max);
            if self.write_handle.is_some() {
                self.write_op(&ClientOp::Unsubscribe {
                    sid: msg.sid,
                    max: Some(msg.max),
                });
            }
        }
    }
}

/// Drains one subscription: UNSUB, then a PING/PONG, then the
/// subscription ends.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct DrainSub {
    pub(crate) sid: u64,
}

impl Handler<DrainSub> for Connection {
    type Result = ResponseFuture<Result<(), Error>>;
    fn handle(&mut self, msg: DrainSub, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if self.subs.contains_key(&msg.sid) && self.write_handle.is_some() {
            self.write_op(&ClientOp::Unsubscribe {
                sid: msg.sid,
                max: None,
            });
            if let Err(e) = self.ping(PongWaiter::DrainSub(msg.sid, tx)) {
                return Box::pin(async move { Err(e) });
            }
        } else {
            if let Some(s) = self.subs.remove(&msg.sid) {
                s.addr.do_send(End(None));
            }
            let _ = tx.send(Ok(()));
        }
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

impl Handler<Publish> for Connection {
    type Result = ResponseActFuture<Self, Result<(), Error>>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let res = self.publish(&msg);
        if let Err(e) = &res {
            tracing::debug!(error = %e, subject = %msg.subject, "publish rejected");
        }
        if res.is_ok() && self.out.len() > self.opts.write_buffer_limit {
            // Backpressure: answer once the buffer is drained below half.
            let low = self.opts.write_buffer_limit / 2;
            return Box::pin(
                WaitDrained {
                    deadline: Instant::now() + Duration::from_secs(3600),
                    low,
                }
                .map(|_, _, _| Ok(())),
            );
        }
        Box::pin(fut::ready(res))
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
        let pending_msgs = msg
            .options
            .pending_msgs_limit
            .unwrap_or(self.opts.pending_msgs_limit);
        let pending_bytes = msg
            .options
            .pending_bytes_limit
            .unwrap_or(self.opts.pending_bytes_limit);
        if pending_msgs == 0 || pending_bytes == 0 {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                crate::transport::Msg("pending limits must be greater than 0".into()),
            ));
        }
        if msg.options.max == Some(0) {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                crate::transport::Msg("max must be greater than 0".into()),
            ));
        }
        let Some(me) = self.me.clone() else {
            return Err(Error::new(ErrorKind::Closed));
        };
        let sid = self.next_sid;
        self.next_sid += 1;
        let shared = Arc::new(SubShared::default());
        let addr = Subscription::new(SubscriptionInit {
            sid,
            subject: msg.subject.clone(),
            delivery: msg.delivery,
            shared: shared.clone(),
            conn: me,
            events: self.events.clone(),
            max: msg.options.max,
            timeout: msg.options.timeout,
            limit_msgs: pending_msgs,
            limit_bytes: pending_bytes,
            on_end: msg.options.on_end,
        })
        .start();
        self.subs.insert(
            sid,
            SubEntry {
                subject: msg.subject.clone(),
                queue: msg.options.queue.clone(),
                max: msg.options.max,
                delivered: 0,
                addr: addr.clone(),
            },
        );
        if self.write_handle.is_some() {
            self.write_op(&ClientOp::Subscribe {
                sid,
                subject: msg.subject.clone(),
                queue_group: msg.options.queue,
            });
            if let Some(max) = msg.options.max {
                self.write_op(&ClientOp::Unsubscribe {
                    sid,
                    max: Some(max),
                });
            }
        }
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

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.check_open()?;
        if self.write_handle.is_none() {
            return Err(Error::new(ErrorKind::NotConnected));
        }
        self.state = State::Draining;
        let sids: Vec<u64> = self.subs.keys().copied().collect();
        for sid in sids {
            self.write_op(&ClientOp::Unsubscribe { sid, max: None });
        }
        self.pongs.push_back(PongWaiter::DrainAll);
        self.write_op(&ClientOp::Ping);
        let _ = ctx;
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

enum ReadItem {
    Op(u64, Result<ServerOp, ProtoError>),
    Eof(u64),
}

/// Tags each decoded op with the transport generation, and reports EOF
/// as an item (actix's `finished` cannot tell streams apart).
struct Tagged<S> {
    generation: u64,
    inner: S,
    done: bool,
}

impl<S> Stream for Tagged<S>
where
    S: Stream<Item = Result<ServerOp, ProtoError>> + Unpin,
{
    type Item = ReadItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<ReadItem>> {
        if self.done {
            return Poll::Ready(None);
        }
        let generation = self.generation;
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(ReadItem::Op(generation, item))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(ReadItem::Eof(generation)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl StreamHandler<ReadItem> for Connection {
    fn handle(&mut self, item: ReadItem, ctx: &mut Context<Self>) {
        match item {
            ReadItem::Op(g, _) | ReadItem::Eof(g) if g != self.generation => {}
            ReadItem::Op(_, Ok(op)) => self.handle_op(op, ctx),
            ReadItem::Op(_, Err(e)) => {
                let err: Error = e.into();
                if err.kind() != ErrorKind::Io {
                    self.events.emit(Event::Error(err.clone()));
                }
                self.lost(err, ctx);
            }
            ReadItem::Eof(_) => self.lost(Error::new(ErrorKind::Disconnected), ctx),
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

/// Drains the write buffer into the socket in large writes.
struct WriteLoop {
    io: Option<BoxWrite>,
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
        if this.generation != act.generation {
            return Poll::Ready(());
        }
        let Some(io) = this.io.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            if act.out.is_empty() {
                for w in act.drain_wakers.drain(..) {
                    w.wake();
                }
                match Pin::new(&mut *io).poll_flush(task) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        act.lost(e.into(), ctx);
                        return Poll::Ready(());
                    }
                }
                act.write_waker = Some(task.waker().clone());
                return Poll::Pending;
            }
            match Pin::new(&mut *io).poll_write(task, &act.out) {
                Poll::Ready(Ok(0)) => {
                    act.lost(
                        std::io::Error::new(std::io::ErrorKind::WriteZero, "socket closed").into(),
                        ctx,
                    );
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(n)) => {
                    act.out.advance(n);
                    if act.out.len() < act.opts.write_buffer_limit / 2 {
                        for w in act.drain_wakers.drain(..) {
                            w.wake();
                        }
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

/// Resolves when the write buffer is at or below `low` bytes, the
/// transport is gone, or the deadline passes.
struct WaitDrained {
    deadline: Instant,
    low: usize,
}

impl ActorFuture<Connection> for WaitDrained {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection,
        _: &mut Context<Connection>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        if act.out.len() <= self.low
            || act.write_handle.is_none()
            || Instant::now() >= self.deadline
        {
            return Poll::Ready(());
        }
        act.drain_wakers.push(task.waker().clone());
        Poll::Pending
    }
}
