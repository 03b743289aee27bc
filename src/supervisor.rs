//! The Supervisor actor: connects, reports status events, resolves
//! `closed()`, and owns the server pool.
//!
//! Reconnect policy arrives with its own issue: today a lost connection is
//! reported (`Disconnected`) and the client closes with the reason. The
//! pool, the cluster updates and the hooks for backoff are already here.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};

use crate::connection::{Attach, CloseWith, Connection};
use crate::event::Event;
use crate::muxer::{PublishDenied, RequestMux};
use crate::options::{ConnectOptions, ServerAddr};
use crate::proto::{ServerError, ServerErrorKind};
use crate::stats::StatsCounters;
use crate::transport::{self, Transport};
use crate::{Error, ErrorKind};

/// Capacity of each event stream. A stream that falls this far behind
/// misses the newest events, which are counted in
/// [`EventStream::lagged`](crate::client::EventStream::lagged).
pub(crate) const EVENT_STREAM_CAPACITY: usize = 1024;

/// A cheap handle to emit status events through the Supervisor.
#[derive(Clone)]
pub(crate) struct EventBus(pub(crate) Recipient<Event>);

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventBus")
    }
}

impl EventBus {
    pub(crate) fn emit(&self, event: Event) {
        self.0.do_send(event);
    }
}

/// The Supervisor actor.
pub struct Supervisor {
    opts: Arc<ConnectOptions>,
    stats: Arc<StatsCounters>,
    conn: Option<Addr<Connection>>,
    mux: Option<Addr<RequestMux>>,
    pool: Vec<ServerAddr>,
    recipients: Vec<Recipient<Event>>,
    streams: Vec<(mpsc::Sender<Event>, Arc<std::sync::atomic::AtomicU64>)>,
    closed: Option<Option<Error>>,
    closed_waiters: Vec<oneshot::Sender<Option<Error>>>,
    server: Option<String>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field(
                "pool",
                &self
                    .pool
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("closed", &self.closed)
            .finish()
    }
}

impl Supervisor {
    pub(crate) fn new(opts: Arc<ConnectOptions>, stats: Arc<StatsCounters>) -> Supervisor {
        let pool = opts.servers_or_default();
        let recipients = opts.event_recipients.clone();
        Supervisor {
            opts,
            stats,
            conn: None,
            mux: None,
            pool,
            recipients,
            streams: Vec::new(),
            closed: None,
            closed_waiters: Vec::new(),
            server: None,
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
}

/// Tries the servers of the pool in order (shuffled unless `no_randomize`)
/// and returns the first transport that completes a handshake.
pub(crate) async fn connect_pool(
    pool: &[ServerAddr],
    opts: &ConnectOptions,
) -> Result<Transport, Error> {
    let mut order: Vec<&ServerAddr> = pool.iter().collect();
    if !opts.no_randomize {
        shuffle(&mut order);
    }
    let mut last = Error::new(ErrorKind::NotConnected);
    for server in order {
        match transport::connect(server, opts).await {
            Ok(t) => return Ok(t),
            Err(e) => {
                tracing::debug!(server = %server, error = %e, "connect failed");
                // Authentication failures are final: the next server has
                // the same accounts.
                if e.kind() == ErrorKind::Authentication {
                    return Err(e);
                }
                last = e;
            }
        }
    }
    Err(last)
}

fn shuffle<T>(v: &mut [T]) {
    let mut seed = crate::nuid::next()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
        });
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Wires the actors together after the first connect.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Start {
    pub(crate) conn: Addr<Connection>,
    pub(crate) mux: Addr<RequestMux>,
    pub(crate) transport: Transport,
}

impl Handler<Start> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) {
        let server = msg.transport.server.to_string();
        self.server = Some(server.clone());
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        msg.conn.do_send(Attach(msg.transport, ctx.address()));
        self.conn = Some(msg.conn);
        self.mux = Some(msg.mux);
        ctx.notify(Event::Connected { server });
    }
}

/// The Connection lost its transport.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ConnectionLost {
    pub(crate) server: String,
    pub(crate) reason: Option<Error>,
}

impl Handler<ConnectionLost> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ConnectionLost, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        ctx.notify(Event::Disconnected {
            server: msg.server,
            reason: msg.reason.clone(),
        });
        // Reconnecting is the reconnect issue's work: for now, close.
        if let Some(conn) = &self.conn {
            conn.do_send(CloseWith(msg.reason));
        }
    }
}

/// The Connection closed for good.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Closed {
    pub(crate) reason: Option<Error>,
}

impl Handler<Closed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Closed, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(msg.reason.clone());
        if let Some(mux) = self.mux.take() {
            mux.do_send(crate::muxer::Shutdown);
        }
        for w in self.closed_waiters.drain(..) {
            let _ = w.send(msg.reason.clone());
        }
        // Deliver the Closed event, then let the streams end.
        self.handle(Event::Closed { reason: msg.reason }, ctx);
        self.streams.clear();
        self.conn = None;
    }
}

/// `connect_urls` changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ServersUpdate {
    pub(crate) urls: Vec<String>,
}

impl Handler<ServersUpdate> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ServersUpdate, _: &mut Context<Self>) {
        if self.opts.ignore_cluster_updates {
            return;
        }
        for url in msg.urls {
            if let Ok(addr) = ServerAddr::parse(&url)
                && !self
                    .pool
                    .iter()
                    .any(|s| s.host() == addr.host() && s.port() == addr.port())
            {
                self.pool.push(addr);
            }
        }
    }
}

/// A `-ERR` that leaves the connection open.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AsyncServerError(pub(crate) ServerError);

impl Handler<AsyncServerError> for Supervisor {
    type Result = ();

    fn handle(&mut self, AsyncServerError(e): AsyncServerError, ctx: &mut Context<Self>) {
        if e.kind() == ServerErrorKind::PublishPermissionViolation
            && let (Some(mux), Some(subject)) = (&self.mux, e.subject())
        {
            mux.do_send(PublishDenied {
                subject: subject.to_string(),
                error: e.clone().into(),
            });
        }
        ctx.notify(Event::Error(e.into()));
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
