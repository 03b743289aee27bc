//! The Supervisor actor: owns connecting, the first connect and every
//! reconnect alike, in one loop over the server pool; reports status
//! events in order; resolves `closed()`.
//!
//! The loop (nats.go's): after a loss the current server goes to the back
//! of the pool; each attempt takes the front server, counting an attempt
//! against it (a server leaves the pool after `max_reconnect_attempts`
//! failed attempts; its count starts again after a successful connect).
//! The Supervisor sleeps `reconnect_time_wait` plus jitter (or what
//! `reconnect_delay_handler` says) only after it has tried every server
//! once, so a cluster fails over at once. `force_reconnect` skips the first
//! sleep. An authentication error given twice in a row by the same server
//! ends the loop unless `ignore_auth_error_abort`. When the pool runs dry
//! the client closes with `MaxReconnects`. `close()` ends the loop at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

use crate::connection::{Attach, CloseWith, Connection, ForceReconnect};
use crate::event::Event;
pub(crate) use crate::messages::EventBus;
use crate::messages::{
    AsyncServerError, Closed, ConnectionLost, LameDuck, ServersUpdate, SupervisorLink,
};
use crate::muxer::{PublishDenied, RequestMux};
use crate::options::ConnectOptions;
use crate::pool::{Backoff, Server, ServerPool};
use crate::proto::ServerErrorKind;
use crate::stats::StatsCounters;
use crate::transport::{self, Transport};
use crate::{Error, ErrorKind};

/// Capacity of each event stream. A stream that falls this far behind
/// misses the newest events, which are counted in
/// [`EventStream::lagged`](crate::client::EventStream::lagged).
pub(crate) const EVENT_STREAM_CAPACITY: usize = 1024;

/// Where the connect loop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connected, or closed: no loop running.
    Idle,
    /// The first connect: each server of the pool once, in pool order.
    First { tried: usize },
    /// After a loss (or a failed first connect with
    /// `wait_on_first_connect`).
    Reconnecting,
}

/// The Supervisor actor.
pub struct Supervisor {
    _live: crate::stats::LiveActor,
    opts: Arc<ConnectOptions>,
    stats: Arc<StatsCounters>,
    conn: Option<Addr<Connection>>,
    mux: Option<Addr<RequestMux>>,
    pool: ServerPool,
    backoff: Backoff,
    rng: StdRng,
    recipients: Vec<Recipient<Event>>,
    streams: Vec<(mpsc::Sender<Event>, Arc<std::sync::atomic::AtomicU64>)>,
    closed: Option<Option<Error>>,
    closed_waiters: Vec<oneshot::Sender<Option<Error>>>,
    server: Option<String>,
    phase: Phase,
    /// Attempts since the loss (for `Reconnecting { attempt }`).
    attempt: usize,
    /// Attempts since the last sleep.
    since_sleep: usize,
    /// Sleeps since the loss (for `reconnect_delay_handler`).
    rounds: usize,
    /// The next attempt skips its sleep (`force_reconnect`, lame duck).
    force: bool,
    attempt_handle: Option<SpawnHandle>,
    first: Option<oneshot::Sender<Result<(), Error>>>,
    last_error: Option<Error>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("pool", &self.pool.urls())
            .field("phase", &self.phase)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Supervisor {
    pub(crate) fn new(opts: Arc<ConnectOptions>, stats: Arc<StatsCounters>) -> Supervisor {
        // One generator for every random choice of the client (pool
        // shuffle, jitter), seeded from the OS.
        let mut rng = StdRng::seed_from_u64(opts.rng_seed.unwrap_or_else(rand::random));
        let pool = ServerPool::new(
            opts.servers_or_default(),
            !opts.no_randomize,
            if opts.reconnect {
                opts.max_reconnect_attempts
            } else {
                Some(0)
            },
            &mut rng,
        );
        let backoff = Backoff {
            wait: opts.reconnect_time_wait,
            jitter: opts.reconnect_jitter,
            jitter_tls: opts.reconnect_jitter_tls,
            handler: opts.reconnect_delay_handler.clone(),
        };
        let recipients = opts.event_recipients.clone();
        Supervisor {
            _live: crate::stats::LiveActor::new(),
            opts,
            stats,
            conn: None,
            mux: None,
            pool,
            backoff,
            rng,
            recipients,
            streams: Vec::new(),
            closed: None,
            closed_waiters: Vec::new(),
            server: None,
            phase: Phase::Idle,
            attempt: 0,
            since_sleep: 0,
            rounds: 0,
            force: false,
            attempt_handle: None,
            first: None,
            last_error: None,
        }
    }

    /// Fans an event out, in the order the Supervisor sees them.
    fn emit(&mut self, event: Event) {
        tracing::debug!(%event, "event");
        self.recipients.retain(|r| r.connected());
        for r in &self.recipients {
            r.do_send(event.clone());
        }
        self.streams
            .retain(|(tx, lagged)| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    lagged.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    /// Whether TLS is in use with `server`: required by the options or
    /// the URL, or by the server the last time the client connected to it.
    fn tls(&self, server: &Server) -> bool {
        self.opts.tls_wanted() || server.addr.tls_required() || server.tls_seen
    }

    /// Starts one connect attempt to `server` after `delay`.
    fn attempt(&mut self, server: Server, delay: Duration, ctx: &mut Context<Self>) {
        let opts = self.opts.clone();
        let fut = async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            transport::connect(&server.addr, &server.tls_name, &opts).await
        };
        self.attempt_handle = Some(ctx.spawn(fut.into_actor(self).map(
            |res, act: &mut Supervisor, ctx| {
                act.attempt_handle = None;
                act.attempt_done(res, ctx);
            },
        )));
    }

    /// The next reconnect attempt, or the end when the pool ran dry.
    fn next_attempt(&mut self, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        let Some(server) = self.pool.next_server().cloned() else {
            let last = self
                .last_error
                .as_ref()
                .map_or_else(|| "no server left".to_string(), ToString::to_string);
            self.give_up(
                Error::with_source(
                    ErrorKind::MaxReconnects,
                    format!("every server used its reconnect attempts; last error: {last}"),
                ),
                ctx,
            );
            return;
        };
        let sleep = !self.force && self.since_sleep + 1 >= self.pool.len();
        self.force = false;
        let delay = if sleep {
            self.since_sleep = 0;
            self.rounds += 1;
            let tls = self.tls(&server);
            self.backoff.delay(self.rounds, tls, &mut self.rng)
        } else {
            self.since_sleep += 1;
            Duration::ZERO
        };
        self.attempt += 1;
        self.pool.attempting();
        self.emit(Event::Reconnecting {
            attempt: self.attempt,
            server: server.addr.to_string(),
        });
        self.attempt(server, delay, ctx);
    }

    fn attempt_done(&mut self, res: Result<Transport, Error>, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        match res {
            Ok(t) => self.connected(t, ctx),
            Err(e) => {
                tracing::debug!(error = %e, phase = ?self.phase, "connect attempt failed");
                self.last_error = Some(e.clone());
                let auth = e.kind() == ErrorKind::Authentication;
                if auth {
                    let twice = self.pool.auth_failed(&e.to_string());
                    if self.phase != Phase::Reconnecting {
                        // The first connect: the other servers have the same
                        // accounts; say so now.
                        if !self.opts.wait_on_first_connect {
                            self.fail_first(e, ctx);
                            return;
                        }
                    } else if twice && !self.opts.ignore_auth_error_abort {
                        self.give_up(e, ctx);
                        return;
                    }
                } else {
                    self.pool.failed();
                }
                match self.phase {
                    Phase::First { tried } => {
                        let tried = tried + 1;
                        if tried < self.pool.len() {
                            self.phase = Phase::First { tried };
                            if let Some(next) = self.pool.next_server().cloned() {
                                self.attempt(next, Duration::ZERO, ctx);
                                return;
                            }
                        }
                        if self.opts.wait_on_first_connect && self.opts.reconnect {
                            self.phase = Phase::Reconnecting;
                            self.next_attempt(ctx);
                        } else {
                            self.fail_first(e, ctx);
                        }
                    }
                    Phase::Reconnecting => self.next_attempt(ctx),
                    Phase::Idle => {}
                }
            }
        }
    }

    fn connected(&mut self, t: Transport, ctx: &mut Context<Self>) {
        let first = self.phase != Phase::Reconnecting || self.first.is_some();
        self.phase = Phase::Idle;
        self.pool.connected();
        self.pool.set_tls(t.tls);
        self.attempt = 0;
        self.since_sleep = 0;
        self.rounds = 0;
        self.last_error = None;
        let server = t.server.to_string();
        self.server = Some(server.clone());
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        let urls = t.info.connect_urls.clone();
        let ldm = t.info.lame_duck_mode;
        if let Some(conn) = &self.conn {
            let me = ctx.address();
            conn.do_send(Attach(
                t,
                SupervisorLink {
                    lost: me.clone().recipient(),
                    closed: me.clone().recipient(),
                    servers: me.clone().recipient(),
                    lame_duck: me.clone().recipient(),
                    server_error: me.recipient(),
                },
            ));
        }
        if first {
            self.emit(Event::Connected { server });
            if let Some(tx) = self.first.take() {
                let _ = tx.send(Ok(()));
            }
        } else {
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            self.emit(Event::Reconnected { server });
        }
        self.apply_urls(&urls);
        if ldm {
            self.lame_duck(ctx);
        }
    }

    /// Applies the server's `connect_urls` to the pool and reports what
    /// changed.
    fn apply_urls(&mut self, urls: &[String]) {
        if self.opts.ignore_cluster_updates {
            return;
        }
        let change = self.pool.update(urls, &mut self.rng);
        if !change.is_empty() {
            self.emit(Event::ServersChanged {
                added: change.added,
                deleted: change.deleted,
            });
        }
    }

    fn lame_duck(&mut self, _ctx: &mut Context<Self>) {
        let server = self.server.clone().unwrap_or_default();
        self.emit(Event::LameDuckMode { server });
        if self.opts.reconnect_on_lame_duck
            && self.pool.len() > 1
            && let Some(conn) = &self.conn
        {
            conn.do_send(ForceReconnect);
        }
    }

    /// The first connect failed on every server.
    fn fail_first(&mut self, e: Error, _ctx: &mut Context<Self>) {
        self.phase = Phase::Idle;
        if let Some(tx) = self.first.take() {
            let _ = tx.send(Err(e.clone()));
        }
        if let Some(conn) = &self.conn {
            conn.do_send(CloseWith(Some(e)));
        }
    }

    /// Reconnecting is over: close with `reason`.
    fn give_up(&mut self, reason: Error, ctx: &mut Context<Self>) {
        if self.first.is_some() {
            self.fail_first(reason, ctx);
            return;
        }
        self.phase = Phase::Idle;
        if let Some(conn) = &self.conn {
            conn.do_send(CloseWith(Some(reason)));
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
    }
}

impl Handler<Event> for Supervisor {
    type Result = ();

    fn handle(&mut self, event: Event, _: &mut Context<Self>) {
        self.emit(event);
    }
}

/// Wires the actors together before the first connect.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Start {
    pub(crate) conn: Addr<Connection>,
    pub(crate) mux: Addr<RequestMux>,
}

impl Handler<Start> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Start, _: &mut Context<Self>) {
        self.conn = Some(msg.conn);
        self.mux = Some(msg.mux);
    }
}

/// The first connect: resolves once connected, or with the error that
/// ended it.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct ConnectFirst;

impl Handler<ConnectFirst> for Supervisor {
    type Result = ResponseFuture<Result<(), Error>>;

    fn handle(&mut self, _: ConnectFirst, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.first = Some(tx);
        self.phase = Phase::First { tried: 0 };
        match self.pool.current().cloned() {
            Some(server) => self.attempt(server, Duration::ZERO, ctx),
            None => self.fail_first(Error::new(ErrorKind::NotConnected), ctx),
        }
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

impl Handler<ConnectionLost> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ConnectionLost, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        self.emit(Event::Disconnected {
            server: msg.server,
            reason: msg.reason.clone(),
        });
        if let Some(r) = &msg.reason
            && r.kind() == ErrorKind::Authentication
        {
            // An auth error on a live connection (an expired user, say)
            // counts for the abort rule too.
            self.pool.auth_failed(&r.to_string());
            self.last_error = Some(r.clone());
        }
        if !self.opts.reconnect {
            if let Some(conn) = &self.conn {
                conn.do_send(CloseWith(msg.reason));
            }
            return;
        }
        self.force = msg.reason.is_none();
        self.phase = Phase::Reconnecting;
        self.attempt = 0;
        self.since_sleep = 0;
        self.rounds = 0;
        self.next_attempt(ctx);
    }
}

impl Handler<Closed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Closed, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(msg.reason.clone());
        self.phase = Phase::Idle;
        if let Some(h) = self.attempt_handle.take() {
            ctx.cancel_future(h);
        }
        if let Some(tx) = self.first.take() {
            let _ = tx.send(Err(msg
                .reason
                .clone()
                .unwrap_or_else(|| Error::new(ErrorKind::Closed))));
        }
        if let Some(mux) = self.mux.take() {
            mux.do_send(crate::muxer::Shutdown);
        }
        for w in self.closed_waiters.drain(..) {
            let _ = w.send(msg.reason.clone());
        }
        // Deliver the Closed event, then let the streams end.
        self.emit(Event::Closed { reason: msg.reason });
        self.streams.clear();
        self.conn = None;
    }
}

impl Handler<ServersUpdate> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ServersUpdate, _: &mut Context<Self>) {
        self.apply_urls(&msg.urls);
    }
}

impl Handler<LameDuck> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: LameDuck, ctx: &mut Context<Self>) {
        self.lame_duck(ctx);
    }
}

/// The pool's servers (without credentials), current first.
#[derive(Debug, Message)]
#[rtype(result = "Vec<String>")]
pub(crate) struct GetServers;

impl Handler<GetServers> for Supervisor {
    type Result = MessageResult<GetServers>;

    fn handle(&mut self, _: GetServers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.pool.urls())
    }
}

impl Handler<AsyncServerError> for Supervisor {
    type Result = ();

    fn handle(&mut self, AsyncServerError(e): AsyncServerError, _: &mut Context<Self>) {
        if e.kind() == ServerErrorKind::PublishPermissionViolation
            && let (Some(mux), Some(subject)) = (&self.mux, e.subject())
        {
            mux.do_send(PublishDenied {
                subject: subject.to_string(),
                reply: e.is_reply_denied(),
                error: e.clone().into(),
            });
        }
        self.emit(Event::Error(e.into()));
    }
}

/// Registers a recipient of every status event.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AddRecipient(pub(crate) Recipient<Event>);

impl Handler<AddRecipient> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: AddRecipient, _: &mut Context<Self>) {
        self.recipients.push(msg.0);
    }
}

/// Opens a new event stream.
#[derive(Message)]
#[rtype(result = "Option<(mpsc::Receiver<Event>, Arc<std::sync::atomic::AtomicU64>)>")]
pub(crate) struct OpenStream;

impl Handler<OpenStream> for Supervisor {
    type Result = Option<(mpsc::Receiver<Event>, Arc<std::sync::atomic::AtomicU64>)>;
    fn handle(&mut self, _: OpenStream, _: &mut Context<Self>) -> Self::Result {
        if self.closed.is_some() {
            return None;
        }
        let (tx, rx) = mpsc::channel(EVENT_STREAM_CAPACITY);
        let lagged = Arc::new(std::sync::atomic::AtomicU64::new(0));
        self.streams.push((tx, lagged.clone()));
        Some((rx, lagged))
    }
}

/// Resolves when the client is closed, with the reason.
#[derive(Message)]
#[rtype(result = "Option<Error>")]
pub(crate) struct WaitClosed;

impl Handler<WaitClosed> for Supervisor {
    type Result = ResponseFuture<Option<Error>>;
    fn handle(&mut self, _: WaitClosed, _: &mut Context<Self>) -> Self::Result {
        if let Some(reason) = &self.closed {
            let reason = reason.clone();
            return Box::pin(async move { reason });
        }
        let (tx, rx) = oneshot::channel();
        self.closed_waiters.push(tx);
        Box::pin(async move { rx.await.unwrap_or(None) })
    }
}

/// The URL of the server connected to (without credentials).
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub(crate) struct CurrentServer;

impl Handler<CurrentServer> for Supervisor {
    type Result = Option<String>;
    fn handle(&mut self, _: CurrentServer, _: &mut Context<Self>) -> Option<String> {
        if self.closed.is_some() {
            return None;
        }
        self.server.clone()
    }
}
