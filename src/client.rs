//! The `Client` handle, the `Subscriber` stream and the event stream.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use futures_core::Stream;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::connection::Connection;
use crate::event::Event;
use crate::headers::HeaderMap;
use crate::messages::{
    Close, Delivery, Drain, Flush, GetRtt, GetServerInfo, Publish, Request, RequestOptions,
    Subscribe, SubscribeOptions, SubscriptionHandle, Unsubscribe,
};
use crate::muxer::{MuxShared, RequestMux};
use crate::options::ConnectOptions;
use crate::proto::ServerInfo;
use crate::stats::{Statistics, StatsCounters};
use crate::subject::validate_publish;
use crate::supervisor::{AddRecipient, ConnectFirst, OpenStream, Start, Supervisor, WaitClosed};
use crate::{Error, ErrorKind, Msg, Subject};

struct Inner {
    writer: Arc<crate::writer::Writer>,
    conn: Addr<Connection>,
    sup: Addr<Supervisor>,
    mux: Arc<MuxShared>,
    mux_addr: Addr<RequestMux>,
    opts: Arc<ConnectOptions>,
    stats: Arc<StatsCounters>,
    /// Inbox ids from [`ConnectOptions::rng_seed`] when set.
    seeded_ids: Option<std::sync::Mutex<crate::nuid::Nuid>>,
}

/// Dropping the last [`Client`] clone closes the connection (buffered
/// writes get up to a second) and stops its actors: a client nobody holds
/// never leaks a socket or a reconnect loop. Keep a `Client` alive as long
/// as you use [`Client::connection`]'s address.
impl Drop for Inner {
    fn drop(&mut self) {
        self.conn.do_send(Close);
    }
}

/// A handle to a NATS connection: `Clone + Send + Sync`, each method a
/// message to the actor that owns the work.
///
/// Create it inside an actix system (`#[actix::main]`,
/// `#[actix_rt::main]` or `actix_rt::System::new().block_on(...)`): the
/// actors run on the arbiter that calls [`Client::connect`].
///
/// # Examples
///
/// ```no_run
/// use nats_actix::{Client, ConnectOptions};
///
/// #[actix_rt::main]
/// async fn main() -> nats_actix::Result<()> {
///     let client = Client::connect(ConnectOptions::new().server("127.0.0.1:4222")).await?;
///     let mut sub = client.subscribe("greet.*").await?;
///     client.publish("greet.joe", "hello").await?;
///     client.flush().await?;
///     client.close().await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

fn mailbox(e: MailboxError) -> Error {
    match e {
        MailboxError::Closed => Error::new(ErrorKind::Closed),
        MailboxError::Timeout => Error::new(ErrorKind::TimedOut),
    }
}

impl Client {
    /// Connects to the first server of the pool that answers, and starts
    /// the actors.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for bad options; the last server's error (`Io`,
    /// `TimedOut`, `Authentication`, ...) when none could be reached.
    pub async fn connect(opts: ConnectOptions) -> Result<Client, Error> {
        opts.validate()?;
        if actix::Arbiter::try_current().is_none() {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                "Client::connect must run inside an actix System \
                 (#[actix::main], #[actix_rt::main] or System::new().block_on)",
            ));
        }
        let opts = Arc::new(opts);
        let stats = Arc::new(StatsCounters::default());
        let sup = Supervisor::new(opts.clone(), stats.clone()).start();
        let events = crate::supervisor::EventBus(sup.clone().recipient());
        let writer = Arc::new(crate::writer::Writer::new(
            opts.write_buffer_limit,
            opts.reconnect_buffer_size,
            opts.debug,
            stats.clone(),
        ));
        let conn = Connection::new(opts.clone(), events, stats.clone(), writer.clone()).start();
        let mux_actor = RequestMux::new(conn.clone(), writer.clone(), opts.clone());
        let mux_shared = mux_actor.shared();
        let mux = mux_actor.start();
        sup.send(Start {
            conn: conn.clone(),
            mux: mux.clone(),
        })
        .await
        .map_err(mailbox)?;
        // The Supervisor owns connecting: the first connect is its loop's
        // first pass (and, with `wait_on_first_connect`, the reconnects
        // that follow).
        sup.send(ConnectFirst).await.map_err(mailbox)??;
        Ok(Client {
            inner: Arc::new(Inner {
                writer,
                conn,
                sup,
                mux: mux_shared,
                mux_addr: mux.clone(),
                seeded_ids: opts
                    .rng_seed
                    .map(|seed| std::sync::Mutex::new(crate::nuid::Nuid::with_seed(seed ^ 0x1b0c))),
                opts,
                stats,
            }),
        })
    }

    /// Connects to one server URL with default options.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`].
    pub async fn connect_to(url: &str) -> Result<Client, Error> {
        Client::connect(ConnectOptions::new().server(url)).await
    }

    /// The Connection actor, for actors that send it messages directly.
    pub fn connection(&self) -> &Addr<Connection> {
        &self.inner.conn
    }

    /// The RequestMux actor, for actors that send it
    /// [`Request`] messages.
    pub fn request_mux(&self) -> &Addr<RequestMux> {
        &self.inner.mux_addr
    }

    /// The options in force.
    pub fn options(&self) -> &ConnectOptions {
        &self.inner.opts
    }

    /// Publishes `payload` to `subject`.
    ///
    /// The message is encoded straight into the connection's write buffer:
    /// no allocation, no message to an actor, no syscall of its own. It
    /// resolves once the message is buffered; when the buffer is over
    /// `write_buffer_limit` it first waits for the socket to drain it
    /// (backpressure). Use [`Client::flush`] to know the server has it.
    ///
    /// # Errors
    ///
    /// `InvalidSubject`, `MaxPayloadExceeded` (headers included, checked
    /// before any byte is written), `Closed`, `NotConnected`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
    /// client.publish("orders.created", r#"{"id":1}"#).await?;
    /// client.publish(String::from("orders.audit"), vec![1, 2, 3]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.publish_parts(subject.as_ref(), None, None, &payload.into())
            .await
    }

    /// Publishes with a reply subject.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`].
    pub async fn publish_with_reply(
        &self,
        subject: impl AsRef<str>,
        reply: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.publish_parts(
            subject.as_ref(),
            Some(reply.as_ref()),
            None,
            &payload.into(),
        )
        .await
    }

    /// Publishes with headers.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`], and `InvalidHeader`.
    pub async fn publish_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.publish_parts(subject.as_ref(), None, Some(&headers), &payload.into())
            .await
    }

    /// Publishes a value as JSON.
    ///
    /// # Errors
    ///
    /// `Codec` when `value` cannot be serialised, and as [`Client::publish`].
    pub async fn publish_json<T: Serialize + ?Sized>(
        &self,
        subject: impl AsRef<str>,
        value: &T,
    ) -> Result<(), Error> {
        let json =
            serde_json::to_vec(value).map_err(|e| Error::with_source(ErrorKind::Codec, e))?;
        self.publish(subject, json).await
    }

    /// Publishes a fully specified message.
    ///
    /// # Errors
    ///
    /// As [`Client::publish`].
    pub async fn publish_msg(&self, msg: Publish) -> Result<(), Error> {
        self.publish_parts(
            &msg.subject,
            msg.reply.as_deref(),
            msg.headers.as_ref(),
            &msg.payload,
        )
        .await
    }

    async fn publish_parts(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) -> Result<(), Error> {
        let w = &self.inner.writer;
        w.publish_wait(subject, reply, headers, payload).await?;
        if w.buffered() >= self.inner.opts.flush_watermark {
            // Let the write loop start on a large batch while we go on.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Subscribes, returning a [`Subscriber`] stream.
    ///
    /// # Errors
    ///
    /// `InvalidSubject`, `Closed` (also while draining).
    pub async fn subscribe(&self, subject: impl Into<Subject>) -> Result<Subscriber, Error> {
        self.subscribe_with(subject, SubscribeOptions::default())
            .await
    }

    /// Subscribes to a queue group.
    ///
    /// # Errors
    ///
    /// As [`Client::subscribe`].
    pub async fn queue_subscribe(
        &self,
        subject: impl Into<Subject>,
        queue: impl Into<Subject>,
    ) -> Result<Subscriber, Error> {
        self.subscribe_with(subject, SubscribeOptions::default().queue(queue))
            .await
    }

    /// Subscribes with options (queue, max, timeout, pending limits).
    ///
    /// # Errors
    ///
    /// As [`Client::subscribe`], and `InvalidArgument` for bad limits.
    pub async fn subscribe_with(
        &self,
        subject: impl Into<Subject>,
        options: SubscribeOptions,
    ) -> Result<Subscriber, Error> {
        let (tx, rx) = crate::queue::channel();
        let handle = self
            .inner
            .conn
            .send(Subscribe {
                subject: subject.into(),
                delivery: Delivery::Channel(tx),
                options,
            })
            .await
            .map_err(mailbox)??;
        Ok(Subscriber {
            handle,
            rx,
            ended: false,
        })
    }

    /// Subscribes an actor: each message reaches its `Handler<Msg>`.
    ///
    /// # Errors
    ///
    /// As [`Client::subscribe_with`].
    pub async fn subscribe_actor(
        &self,
        subject: impl Into<Subject>,
        recipient: Recipient<Msg>,
        options: SubscribeOptions,
    ) -> Result<SubscriptionHandle, Error> {
        self.inner
            .conn
            .send(Subscribe {
                subject: subject.into(),
                delivery: Delivery::Actor(recipient),
                options,
            })
            .await
            .map_err(mailbox)?
    }

    /// Subscribes an actor with a payload codec: each message reaches its
    /// `Handler<Typed<T>>` decoded, or with the decoding error.
    ///
    /// # Errors
    ///
    /// As [`Client::subscribe_with`].
    pub async fn subscribe_typed_actor<C: crate::codec::Codec>(
        &self,
        subject: impl Into<Subject>,
        recipient: Recipient<crate::codec::Typed<C::Item>>,
        options: SubscribeOptions,
    ) -> Result<SubscriptionHandle, Error> {
        let f = move |msg: Msg| {
            let value = C::decode(&msg.payload);
            recipient.do_send(crate::codec::Typed { value, msg });
            recipient.connected()
        };
        self.inner
            .conn
            .send(Subscribe {
                subject: subject.into(),
                delivery: Delivery::Func(Arc::new(f)),
                options,
            })
            .await
            .map_err(mailbox)?
    }

    /// Sends a request and waits for the first reply (1 s by default).
    ///
    /// # Errors
    ///
    /// `NoResponders` when nobody listens (status 503, within
    /// milliseconds), `TimedOut`, `AuthorizationViolation` when the
    /// server denies the publish, and the errors of [`Client::publish`].
    pub async fn request(
        &self,
        subject: impl Into<Subject>,
        payload: impl Into<Bytes>,
    ) -> Result<Msg, Error> {
        self.request_with(subject, payload, RequestOptions::default())
            .await
    }

    /// Sends a request with options (timeout, headers, `no_mux`, `reply`).
    ///
    /// Dropping the returned future removes the waiter from the muxer.
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; `InvalidArgument` for `reply` without `no_mux`.
    pub async fn request_with(
        &self,
        subject: impl Into<Subject>,
        payload: impl Into<Bytes>,
        options: RequestOptions,
    ) -> Result<Msg, Error> {
        let subject = subject.into();
        validate_publish(&subject)?;
        let payload = payload.into();
        if options.reply.is_some() && !options.no_mux {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                "reply requires no_mux",
            ));
        }
        if options.no_mux {
            return self.request_no_mux(subject, payload, options).await;
        }
        let mux = &self.inner.mux;
        mux.ensure_subscribed().await?;
        let timeout = options.timeout.unwrap_or(self.inner.opts.request_timeout);
        let (tx, rx) = oneshot::channel();
        let token = mux.start(
            &Request {
                subject,
                payload,
                options,
            },
            tx,
        )?;
        // Dropping this future (or timing out) removes the waiter.
        let guard = CancelOnDrop {
            mux: mux.clone(),
            token: Some(token),
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(res) => {
                guard.disarm();
                res.map_err(|_| Error::new(ErrorKind::Closed))?
            }
            Err(_) => Err(Error::new(ErrorKind::TimedOut)),
        }
    }

    /// Starts a muxed request: the publish is written now (in call
    /// order), the reply is awaited later with [`PendingReply::wait`].
    pub(crate) async fn start_request(
        &self,
        subject: Subject,
        payload: Bytes,
        headers: Option<HeaderMap>,
    ) -> Result<PendingReply, Error> {
        validate_publish(&subject)?;
        let mux = &self.inner.mux;
        mux.ensure_subscribed().await?;
        let (tx, rx) = oneshot::channel();
        let options = RequestOptions {
            headers,
            ..RequestOptions::default()
        };
        let token = mux.start(
            &Request {
                subject,
                payload,
                options,
            },
            tx,
        )?;
        Ok(PendingReply {
            rx,
            guard: CancelOnDrop {
                mux: mux.clone(),
                token: Some(token),
            },
        })
    }

    async fn request_no_mux(
        &self,
        subject: Subject,
        payload: Bytes,
        options: RequestOptions,
    ) -> Result<Msg, Error> {
        let reply = match options.reply {
            Some(r) => r,
            None => Subject::from(self.new_inbox()),
        };
        validate_publish(&reply)?;
        let timeout = options.timeout.unwrap_or(self.inner.opts.request_timeout);
        let mut sub = self
            .subscribe_with(reply.clone(), SubscribeOptions::default().max(1))
            .await?;
        let mut publish = Publish::new(subject, payload).reply(reply);
        publish.headers = options.headers;
        self.publish_msg(publish).await?;
        match tokio::time::timeout(timeout, sub.next_msg()).await {
            Ok(Some(msg)) if msg.status() == Some(crate::StatusCode::NO_RESPONDERS) => {
                Err(Error::new(ErrorKind::NoResponders))
            }
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(sub
                .end_reason()
                .unwrap_or_else(|| Error::new(ErrorKind::Closed))),
            Err(_) => Err(Error::new(ErrorKind::TimedOut)),
        }
    }

    /// Sends one request and gathers many replies, ending by the
    /// [`RequestManyOptions`] strategy (count, total time, idle gap or
    /// sentinel), whichever comes first.
    ///
    /// # Errors
    ///
    /// `NoResponders` when nobody listens; the errors of
    /// [`Client::publish`]. A timeout is not an error: the replies so far
    /// are returned.
    pub async fn request_many(
        &self,
        subject: impl Into<Subject>,
        payload: impl Into<Bytes>,
        options: RequestManyOptions,
    ) -> Result<Vec<Msg>, Error> {
        let subject = subject.into();
        validate_publish(&subject)?;
        let reply = Subject::from(self.new_inbox());
        let mut sub = self.subscribe(reply.clone()).await?;
        let mut publish = Publish::new(subject, payload).reply(reply);
        publish.headers = options.headers.clone();
        self.publish_msg(publish).await?;
        // `max_wait(Duration::MAX)` means no deadline, not an overflow.
        let deadline = Instant::now().checked_add(options.max_wait);
        let mut out = Vec::new();
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let wait = match (out.is_empty(), options.idle_gap) {
                (false, Some(gap)) => left.min(gap),
                _ => left,
            };
            if wait.is_zero() {
                break;
            }
            match tokio::time::timeout(wait, sub.next_msg()).await {
                Ok(Some(msg)) => {
                    if out.is_empty() && msg.status() == Some(crate::StatusCode::NO_RESPONDERS) {
                        return Err(Error::new(ErrorKind::NoResponders));
                    }
                    if options.sentinel && msg.payload.is_empty() && msg.headers.is_none() {
                        break;
                    }
                    out.push(msg);
                    if options.max_messages.is_some_and(|m| out.len() >= m) {
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        sub.unsubscribe().await.ok();
        Ok(out)
    }

    /// A new unique inbox subject under the `inbox_prefix`.
    pub fn new_inbox(&self) -> String {
        let id = match &self.inner.seeded_ids {
            Some(ids) => ids.lock().unwrap_or_else(|p| p.into_inner()).next(),
            None => crate::nuid::next(),
        };
        format!("{}.{}", self.inner.opts.inbox_prefix, id)
    }

    /// A PING/PONG round trip: resolves when the server has processed
    /// everything sent before. Times out after the connection timeout.
    ///
    /// # Errors
    ///
    /// `TimedOut`, `Closed`, `Disconnected`.
    pub async fn flush(&self) -> Result<(), Error> {
        let timeout = self.inner.opts.connection_timeout;
        match tokio::time::timeout(timeout, self.inner.conn.send(Flush)).await {
            Ok(res) => res.map_err(mailbox)?,
            Err(_) => Err(Error::new(ErrorKind::TimedOut)),
        }
    }

    /// The round trip time of a PING.
    ///
    /// # Errors
    ///
    /// As [`Client::flush`].
    pub async fn rtt(&self) -> Result<Duration, Error> {
        let timeout = self.inner.opts.connection_timeout;
        match tokio::time::timeout(timeout, self.inner.conn.send(GetRtt)).await {
            Ok(res) => res.map_err(mailbox)?,
            Err(_) => Err(Error::new(ErrorKind::TimedOut)),
        }
    }

    /// Messages and bytes in and out.
    pub fn stats(&self) -> Statistics {
        self.inner.stats.snapshot()
    }

    /// The server's latest INFO (`None` once closed).
    pub async fn server_info(&self) -> Option<ServerInfo> {
        self.inner.conn.send(GetServerInfo).await.ok().flatten()
    }

    /// Drains every subscription (their pending messages are delivered),
    /// flushes, then closes. New subscriptions and requests are refused
    /// while draining. Resolves when closed.
    ///
    /// # Errors
    ///
    /// `Closed` when already closed or draining.
    pub async fn drain(&self) -> Result<(), Error> {
        self.inner.conn.send(Drain).await.map_err(mailbox)??;
        self.closed().await;
        Ok(())
    }

    /// Closes the connection (buffered writes get up to a second to go
    /// out), ends every subscription and request, and resolves when done.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a close that can fail.
    pub async fn close(&self) -> Result<(), Error> {
        if self.inner.conn.send(Close).await.is_ok() {
            self.closed().await;
        }
        Ok(())
    }

    /// Resolves when the client is closed, with the reason if it was not a
    /// requested close.
    pub async fn closed(&self) -> Option<Error> {
        self.inner.sup.send(WaitClosed).await.unwrap_or(None)
    }

    /// The URL of the server this client is connected to, without
    /// credentials (nats.deno's `getServer()`); `None` once closed.
    pub async fn connected_server(&self) -> Option<String> {
        self.inner
            .sup
            .send(crate::supervisor::CurrentServer)
            .await
            .ok()
            .flatten()
    }

    /// Whether the client is closed.
    pub fn is_closed(&self) -> bool {
        !self.inner.conn.connected()
    }

    /// Raises an event through the Supervisor, in order with the others
    /// (JetStream consumers report missed heartbeats so).
    pub(crate) fn emit_event(&self, event: Event) {
        self.inner.sup.do_send(event);
    }

    /// Sends every future status event to `recipient`.
    pub fn add_event_recipient(&self, recipient: Recipient<Event>) {
        self.inner.sup.do_send(AddRecipient(recipient));
    }

    /// A stream of every future status event. It ends after `Closed`.
    pub async fn events(&self) -> EventStream {
        match self.inner.sup.send(OpenStream).await.ok().flatten() {
            Some((rx, lagged)) => EventStream {
                rx: Some(rx),
                lagged,
            },
            None => EventStream {
                rx: None,
                lagged: Arc::new(AtomicU64::new(0)),
            },
        }
    }

    /// Where the connection stands: `Connected`, `Reconnecting` (publishes
    /// go to the reconnect buffer), `Draining`, `Closed`. The same state
    /// the status events announce, read without a message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) {
    /// use nats_actix::ConnectionState;
    /// if client.connection_state() == ConnectionState::Reconnecting {
    ///     eprintln!("publishes are buffered until the client reconnects");
    /// }
    /// # }
    /// ```
    pub fn connection_state(&self) -> crate::ConnectionState {
        self.inner.writer.state()
    }

    /// Drops the current transport and reconnects at once, to the next
    /// server of the pool (the current one goes to the back). Buffered
    /// publishes and subscriptions carry over as for any reconnect.
    ///
    /// # Errors
    ///
    /// `Closed` when the client is closed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
    /// client.force_reconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn force_reconnect(&self) -> Result<(), Error> {
        if self.connection_state() == crate::ConnectionState::Closed {
            return Err(Error::new(ErrorKind::Closed));
        }
        self.inner
            .conn
            .send(crate::connection::ForceReconnect)
            .await
            .map_err(mailbox)
    }

    /// The server pool (URLs without credentials), current server first:
    /// the servers given, plus those learned from the cluster.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) {
    /// for url in client.servers().await {
    ///     println!("{url}");
    /// }
    /// # }
    /// ```
    pub async fn servers(&self) -> Vec<String> {
        self.inner
            .sup
            .send(crate::supervisor::GetServers)
            .await
            .unwrap_or_default()
    }

    /// Requests waiting for a reply in the muxer (0 when none leaked).
    pub async fn pending_requests(&self) -> usize {
        self.inner.mux.pending()
    }
}

/// A request whose publish is written and whose reply is awaited later;
/// dropping it removes the waiter.
pub(crate) struct PendingReply {
    rx: oneshot::Receiver<Result<Msg, Error>>,
    guard: CancelOnDrop,
}

impl std::fmt::Debug for PendingReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingReply")
    }
}

impl PendingReply {
    /// The reply, or `TimedOut` after `timeout`.
    pub(crate) async fn wait(self, timeout: Duration) -> Result<Msg, Error> {
        let PendingReply { rx, guard } = self;
        match tokio::time::timeout(timeout, rx).await {
            Ok(res) => {
                guard.disarm();
                res.map_err(|_| Error::new(ErrorKind::Closed))?
            }
            Err(_) => Err(Error::new(ErrorKind::TimedOut)),
        }
    }
}

struct CancelOnDrop {
    mux: Arc<MuxShared>,
    token: Option<u64>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.token = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.mux.cancel(token);
        }
    }
}

/// How [`Client::request_many`] decides it has all the replies.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::RequestManyOptions;
/// let o = RequestManyOptions::default().max_messages(3).idle_gap(Duration::from_millis(50));
/// assert_eq!(o.max_messages, Some(3));
/// ```
#[derive(Debug, Clone)]
pub struct RequestManyOptions {
    /// Stop after this many replies.
    pub max_messages: Option<usize>,
    /// Stop after this long in all (default 1 s).
    pub max_wait: Duration,
    /// Stop when no reply arrives for this long after the first.
    pub idle_gap: Option<Duration>,
    /// Stop at an empty reply (no payload, no headers), not returned.
    pub sentinel: bool,
    /// Headers for the request.
    pub headers: Option<HeaderMap>,
}

impl Default for RequestManyOptions {
    fn default() -> Self {
        RequestManyOptions {
            max_messages: None,
            max_wait: Duration::from_secs(1),
            idle_gap: None,
            sentinel: false,
            headers: None,
        }
    }
}

impl RequestManyOptions {
    /// Stop after `n` replies.
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = Some(n);
        self
    }
    /// Stop after `d` in all.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }
    /// Stop after a gap of `d` between replies.
    pub fn idle_gap(mut self, d: Duration) -> Self {
        self.idle_gap = Some(d);
        self
    }
    /// Stop at an empty reply.
    pub fn sentinel(mut self, on: bool) -> Self {
        self.sentinel = on;
        self
    }
}

/// A subscription as a `Stream<Item = Msg>`. The stream ends when the
/// subscription ends (unsubscribe, `max`, drain, timeout, close); then
/// [`Subscriber::end_reason`] tells why if it was an error. Dropping it
/// unsubscribes.
pub struct Subscriber {
    handle: SubscriptionHandle,
    rx: crate::queue::MsgReceiver,
    ended: bool,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("sid", &self.handle.sid())
            .field("subject", &self.handle.subject())
            .finish()
    }
}

impl Subscriber {
    /// The next message, or `None` when the subscription ended.
    pub async fn next_msg(&mut self) -> Option<Msg> {
        let m = self.rx.recv().await;
        if m.is_none() {
            self.ended = true;
        }
        m
    }

    /// The next message if one is already here, without waiting (`None`
    /// when there is none now, or the subscription ended).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
    /// let mut sub = client.subscribe("orders.>").await?;
    /// while let Some(m) = sub.try_next_msg() {
    ///     println!("{}", m.subject);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_next_msg(&mut self) -> Option<Msg> {
        self.rx.try_recv()
    }

    /// The subscription id.
    pub fn sid(&self) -> u64 {
        self.handle.sid()
    }

    /// The handle with the subscription's counters.
    pub fn handle(&self) -> &SubscriptionHandle {
        &self.handle
    }

    /// Messages handled so far: taken from this stream and dropped (a
    /// message still queued or still held is [`pending`](Subscriber::pending)).
    pub fn processed(&self) -> u64 {
        self.handle.processed()
    }

    /// Messages delivered to this stream so far (handled or pending), not
    /// counting those dropped by the slow-consumer policy.
    pub fn delivered(&self) -> u64 {
        self.handle.shared.delivered()
    }

    /// Messages delivered and not yet dropped.
    pub fn pending(&self) -> u64 {
        self.handle.pending()
    }

    /// Messages dropped by the slow-consumer policy.
    pub fn dropped(&self) -> u64 {
        self.handle.dropped()
    }

    /// Why the subscription ended, when it ended with an error (timeout,
    /// permission violation).
    pub fn end_reason(&self) -> Option<Error> {
        self.handle.shared.end_reason()
    }

    /// Unsubscribes now; the stream ends.
    ///
    /// # Errors
    ///
    /// `Closed` when the subscription already ended.
    pub async fn unsubscribe(&mut self) -> Result<(), Error> {
        let res = self.handle.unsubscribe(None).await;
        // Messages already queued for this stream are discarded: nothing
        // is delivered after an unsubscribe.
        self.rx.close();
        res
    }

    /// Unsubscribes after `n` messages in all.
    ///
    /// # Errors
    ///
    /// `Closed` when the subscription already ended.
    pub async fn unsubscribe_after(&mut self, n: u64) -> Result<(), Error> {
        self.handle.unsubscribe(Some(n)).await
    }

    /// Drains: no new messages; those already sent by the server are
    /// still delivered, then the stream ends.
    ///
    /// # Errors
    ///
    /// `Closed` when the subscription already ended.
    pub async fn drain(&mut self) -> Result<(), Error> {
        self.handle.drain().await
    }
}

impl Stream for Subscriber {
    type Item = Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        let r = self.rx.poll_recv(cx);
        if let Poll::Ready(None) = r {
            self.ended = true;
        }
        r
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if !self.ended && !self.handle.is_closed() {
            self.handle.unsubscribe.do_send(Unsubscribe { max: None });
        }
    }
}

/// The status events as a `Stream<Item = Event>`. Bounded: a stream more
/// than 1024 events behind misses the newest ones, counted by
/// [`EventStream::lagged`].
pub struct EventStream {
    rx: Option<mpsc::Receiver<Event>>,
    lagged: Arc<AtomicU64>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event, `None` after the client closed.
    pub async fn next_event(&mut self) -> Option<Event> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => None,
        }
    }

    /// Events this stream missed because it was full.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match &mut self.rx {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

/// A subscription whose payloads are decoded as JSON: a
/// `Stream<Item = Result<T, Error>>`. A payload that fails to decode is an
/// `Err(Codec)` item; the stream goes on.
pub struct JsonSubscriber<T> {
    inner: Subscriber,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for JsonSubscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSubscriber")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Subscriber {
    /// Decodes every payload as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(self) -> JsonSubscriber<T> {
        JsonSubscriber {
            inner: self,
            _t: std::marker::PhantomData,
        }
    }

    /// Decodes every payload as UTF-8 text.
    pub fn text(self) -> TextSubscriber {
        TextSubscriber { inner: self }
    }
}

impl<T: serde::de::DeserializeOwned> JsonSubscriber<T> {
    /// The next decoded message; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        self.inner.next_msg().await.map(|m| m.json())
    }

    /// The underlying subscriber.
    pub fn inner(&mut self) -> &mut Subscriber {
        &mut self.inner
    }
}

impl<T: serde::de::DeserializeOwned> Stream for JsonSubscriber<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|m| m.map(|m| m.json()))
    }
}

/// A subscription whose payloads are decoded as UTF-8 text.
#[derive(Debug)]
pub struct TextSubscriber {
    inner: Subscriber,
}

impl TextSubscriber {
    /// The next decoded message; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Result<String, Error>> {
        self.inner
            .next_msg()
            .await
            .map(|m| m.payload_str().map(str::to_string))
    }
}

impl Stream for TextSubscriber {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|m| m.map(|m| m.payload_str().map(str::to_string)))
    }
}
