//! Every message the actors exchange. Users send the public ones to the
//! [`Connection`](crate::connection::Connection) (or through [`Client`](crate::Client)).

use std::sync::Arc;
use std::time::Duration;

use actix::{Message, Recipient};
use bytes::Bytes;

use crate::event::Event;
use crate::headers::HeaderMap;
use crate::pending::SubShared;
use crate::proto::ServerError;
use crate::proto::ServerInfo;
use crate::stats::Statistics;
use crate::{Error, Msg, Subject};

/// Publishes a message. The result says whether it was accepted for
/// writing (validated, within `max_payload`, connection open); it does not
/// wait for the server (use [`Flush`] for that).
///
/// # Examples
///
/// ```
/// use nats_actix::messages::Publish;
/// let p = Publish::new("orders.created", "{}");
/// assert_eq!(p.subject, "orders.created");
/// ```
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Publish {
    /// The subject, without wildcards.
    pub subject: Subject,
    /// Optional reply subject.
    pub reply: Option<Subject>,
    /// Optional headers.
    pub headers: Option<HeaderMap>,
    /// The payload.
    pub payload: Bytes,
    /// Counts this message among those not yet handled (see
    /// [`InFlight`]).
    pub(crate) _in_flight: InFlight,
}

/// How many [`Publish`] messages exist that the Connection has not handled
/// yet (made and not dropped). A reply ([`Msg::respond`](crate::Msg::respond))
/// is written straight into the buffer only when there are none; else it
/// queues behind them in the Connection's mailbox, so that an actor's
/// `Publish` and its reply reach the wire in the order they were made.
static PUBLISHES_IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A [`Publish`]'s share of [`PUBLISHES_IN_FLIGHT`].
#[derive(Debug)]
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn new() -> InFlight {
        PUBLISHES_IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight(())
    }

    /// Whether any `Publish` made in this process is not handled yet.
    pub(crate) fn any() -> bool {
        PUBLISHES_IN_FLIGHT.load(std::sync::atomic::Ordering::Acquire) > 0
    }
}

impl Clone for InFlight {
    fn clone(&self) -> Self {
        InFlight::new()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        PUBLISHES_IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Publish {
    /// A publish without reply subject or headers.
    pub fn new(subject: impl Into<Subject>, payload: impl Into<Bytes>) -> Publish {
        Publish {
            subject: subject.into(),
            reply: None,
            headers: None,
            payload: payload.into(),
            _in_flight: InFlight::new(),
        }
    }

    /// Sets the reply subject.
    pub fn reply(mut self, reply: impl Into<Subject>) -> Publish {
        self.reply = Some(reply.into());
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: HeaderMap) -> Publish {
        self.headers = Some(headers);
        self
    }
}

/// Where a subscription delivers its messages.
#[derive(Clone)]
pub enum Delivery {
    /// To an actor's `Handler<Msg>`.
    Actor(Recipient<Msg>),
    /// To a channel (behind a [`Subscriber`](crate::Subscriber) stream).
    Channel(crate::queue::MsgSender),
    /// To a function, for adapters such as typed delivery; it returns
    /// `false` once its receiver is gone, which ends the subscription.
    Func(Arc<dyn Fn(Msg) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Actor(_) => f.write_str("Delivery::Actor"),
            Delivery::Channel(_) => f.write_str("Delivery::Channel"),
            Delivery::Func(_) => f.write_str("Delivery::Func"),
        }
    }
}

/// Sent to the `on_end` recipient of a subscription when it ends.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubscriptionEnded {
    /// The subscription id.
    pub sid: u64,
    /// Its subject.
    pub subject: Subject,
    /// Why it ended: `None` for unsubscribe, drain, max reached or close;
    /// an error for a timeout or a permission violation.
    pub reason: Option<Error>,
}

/// Options of a subscription.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::messages::SubscribeOptions;
/// let opts = SubscribeOptions::default().queue("workers").max(10).timeout(Duration::from_secs(1));
/// assert_eq!(opts.max, Some(10));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    /// Queue group: each message goes to one member of the group.
    pub queue: Option<Subject>,
    /// Unsubscribe automatically after this many messages.
    pub max: Option<u64>,
    /// End the subscription with a `TimedOut` error if no message arrives
    /// within this time.
    pub timeout: Option<Duration>,
    /// Pending message limit (default from the connection options).
    pub pending_msgs_limit: Option<usize>,
    /// Pending byte limit (default from the connection options).
    pub pending_bytes_limit: Option<usize>,
    /// Told when the subscription ends.
    pub on_end: Option<Recipient<SubscriptionEnded>>,
}

impl SubscribeOptions {
    /// Sets the queue group.
    pub fn queue(mut self, queue: impl Into<Subject>) -> Self {
        self.queue = Some(queue.into());
        self
    }
    /// Sets the automatic unsubscribe count.
    pub fn max(mut self, max: u64) -> Self {
        self.max = Some(max);
        self
    }
    /// Sets the first-message timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets the pending limits (messages, bytes).
    pub fn pending_limits(mut self, msgs: usize, bytes: usize) -> Self {
        self.pending_msgs_limit = Some(msgs);
        self.pending_bytes_limit = Some(bytes);
        self
    }
    /// Sets the recipient told when the subscription ends.
    pub fn on_end(mut self, recipient: Recipient<SubscriptionEnded>) -> Self {
        self.on_end = Some(recipient);
        self
    }
}

/// Subscribes. The result is known once `SUB` is queued for writing (use
/// [`Flush`] to know the server has it).
///
/// # Examples
///
/// ```no_run
/// # use actix::prelude::*;
/// # use nats_actix::{Msg, messages::Subscribe};
/// struct Printer;
/// impl Actor for Printer { type Context = Context<Self>; }
/// impl Handler<Msg> for Printer {
///     type Result = ();
///     fn handle(&mut self, msg: Msg, _: &mut Context<Self>) { println!("{:?}", msg.payload); }
/// }
/// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
/// let printer = Printer.start();
/// let handle = client.connection().send(Subscribe::new("greet.*", printer.recipient())).await??;
/// # Ok(()) }
/// ```
#[derive(Debug, Message)]
#[rtype(result = "Result<SubscriptionHandle, Error>")]
pub struct Subscribe {
    /// The subject; `*` and `>` wildcards allowed.
    pub subject: Subject,
    /// Where messages go.
    pub delivery: Delivery,
    /// Options.
    pub options: SubscribeOptions,
}

impl Subscribe {
    /// A subscription delivering to an actor.
    pub fn new(subject: impl Into<Subject>, recipient: Recipient<Msg>) -> Subscribe {
        Subscribe {
            subject: subject.into(),
            delivery: Delivery::Actor(recipient),
            options: SubscribeOptions::default(),
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: SubscribeOptions) -> Subscribe {
        self.options = options;
        self
    }
}

/// A live subscription: its id, its actor and its counters.
#[derive(Debug, Clone)]
pub struct SubscriptionHandle {
    pub(crate) sid: u64,
    pub(crate) subject: Subject,
    pub(crate) unsubscribe: Recipient<Unsubscribe>,
    pub(crate) drain: Recipient<Drain>,
    pub(crate) shared: Arc<SubShared>,
}

impl SubscriptionHandle {
    /// The subscription id.
    pub fn sid(&self) -> u64 {
        self.sid
    }
    /// The subject.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }
    /// Unsubscribes now (`None`) or after `max` messages in all.
    ///
    /// # Errors
    ///
    /// `Closed` when the subscription already ended.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(handle: nats_actix::SubscriptionHandle) -> nats_actix::Result<()> {
    /// handle.unsubscribe(Some(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe(&self, max: Option<u64>) -> Result<(), Error> {
        self.unsubscribe
            .send(Unsubscribe { max })
            .await
            .map_err(|_| Error::new(crate::ErrorKind::Closed))?
    }
    /// Drains: no new messages; those already sent by the server are still
    /// delivered, then the subscription ends.
    ///
    /// # Errors
    ///
    /// `Closed` when the subscription already ended.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(handle: nats_actix::SubscriptionHandle) -> nats_actix::Result<()> {
    /// handle.drain().await?;
    /// # Ok(()) }
    /// ```
    pub async fn drain(&self) -> Result<(), Error> {
        self.drain
            .send(Drain)
            .await
            .map_err(|_| Error::new(crate::ErrorKind::Closed))?
    }
    /// The subscription actor's mailbox for [`Unsubscribe`].
    pub fn unsubscribe_recipient(&self) -> &Recipient<Unsubscribe> {
        &self.unsubscribe
    }
    /// The subscription actor's mailbox for [`Drain`].
    pub fn drain_recipient(&self) -> &Recipient<Drain> {
        &self.drain
    }
    /// Messages handled so far (delivered and released by the handler
    /// or the stream's reader).
    pub fn processed(&self) -> u64 {
        self.shared.processed()
    }
    /// Messages delivered so far (handled or pending).
    pub fn delivered(&self) -> u64 {
        self.shared.delivered()
    }
    /// Messages delivered but not yet dropped by the user.
    pub fn pending(&self) -> u64 {
        self.shared.pending()
    }
    /// Messages dropped by the slow-consumer policy.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }
    /// Whether the subscription has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

/// Unsubscribes, now or after `max` messages in all. Send it to a
/// [`Subscription`](crate::subscription::Subscription) actor.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Unsubscribe {
    /// Unsubscribe once this many messages have been delivered in all.
    pub max: Option<u64>,
}

/// Drains: a subscription (sent to a [`Subscription`](crate::subscription::Subscription) actor) stops
/// receiving new messages and ends after delivering those already sent by
/// the server; the connection (sent to the Connection) drains every
/// subscription, flushes and closes.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Drain;

/// A PING/PONG round trip: resolves when the server has processed
/// everything written before it.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Flush;

/// Closes the connection: ends every subscription and pending request.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "()")]
pub struct Close;

/// Asks for the connection's statistics.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Statistics")]
pub struct GetStats;

/// Measures the round trip time to the server.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Duration, Error>")]
pub struct GetRtt;

/// Asks for the server's latest `INFO`.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Option<ServerInfo>")]
pub struct GetServerInfo;

/// Options of a request.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::messages::RequestOptions;
/// let o = RequestOptions::default().timeout(Duration::from_millis(250));
/// assert_eq!(o.timeout, Some(Duration::from_millis(250)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// How long to wait (default: the connection's `request_timeout`, 1 s).
    pub timeout: Option<Duration>,
    /// Headers to send.
    pub headers: Option<HeaderMap>,
    /// Use a dedicated subscription instead of the shared muxed inbox.
    pub no_mux: bool,
    /// The reply subject to use (requires `no_mux`).
    pub reply: Option<Subject>,
}

impl RequestOptions {
    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets the headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }
    /// Uses a dedicated subscription.
    pub fn no_mux(mut self, no_mux: bool) -> Self {
        self.no_mux = no_mux;
        self
    }
    /// Sets the reply subject (and `no_mux`).
    pub fn reply(mut self, reply: impl Into<Subject>) -> Self {
        self.reply = Some(reply.into());
        self.no_mux = true;
        self
    }
}

/// A request through the [`RequestMux`](crate::muxer::RequestMux): resolves
/// with the first reply, `NoResponders` (status 503) or `TimedOut`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Msg, Error>")]
pub struct Request {
    /// The subject.
    pub subject: Subject,
    /// The payload.
    pub payload: Bytes,
    /// Headers, timeout, and `no_mux`/`reply` (a subscription of its own
    /// for this request, on the given reply subject or a new inbox).
    pub options: RequestOptions,
}

impl Request {
    /// A request with default options.
    pub fn new(subject: impl Into<Subject>, payload: impl Into<Bytes>) -> Request {
        Request {
            subject: subject.into(),
            payload: payload.into(),
            options: RequestOptions::default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Between the crate's actors. They live here, below every actor, so that
// the actors' files depend one way: messages ← subscription ← connection ←
// muxer ← supervisor ← client. An actor holds another's mailbox as a
// `Recipient` of the messages it sends, never as an `Addr` of a file above.
// ---------------------------------------------------------------------------

/// Ends the subscription (max reached, drained, connection closed,
/// permission violation, ...). The Connection has already forgotten it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct End(pub(crate) Option<Error>);

/// Removes a subscription from the routing table (its actor ended it),
/// sending UNSUB when asked.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct RemoveSub {
    pub(crate) sid: u64,
    pub(crate) unsub: bool,
}

/// Sets the auto-unsubscribe count of a subscription.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SetMax {
    pub(crate) sid: u64,
    pub(crate) max: u64,
}

/// Drains one subscription: UNSUB, then a PING/PONG; when the PONG
/// arrives every message for it has been delivered and it ends.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct DrainSub {
    pub(crate) sid: u64,
}

/// The Connection's mailboxes a Subscription actor sends to.
#[derive(Clone)]
pub(crate) struct ConnLink {
    pub(crate) remove: Recipient<RemoveSub>,
    pub(crate) set_max: Recipient<SetMax>,
    pub(crate) drain: Recipient<DrainSub>,
}

impl std::fmt::Debug for ConnLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnLink")
    }
}

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

/// The Connection lost its transport.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ConnectionLost {
    pub(crate) server: String,
    /// `None` when the client asked for it (`force_reconnect`).
    pub(crate) reason: Option<Error>,
}

/// The Connection closed for good.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Closed {
    pub(crate) reason: Option<Error>,
}

/// `connect_urls` from an INFO.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ServersUpdate {
    pub(crate) urls: Vec<String>,
}

/// The server entered lame duck mode.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct LameDuck;

/// A `-ERR` that leaves the connection open.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AsyncServerError(pub(crate) ServerError);

/// The Supervisor's mailboxes the Connection reports to.
#[derive(Clone)]
pub(crate) struct SupervisorLink {
    pub(crate) lost: Recipient<ConnectionLost>,
    pub(crate) closed: Recipient<Closed>,
    pub(crate) servers: Recipient<ServersUpdate>,
    pub(crate) lame_duck: Recipient<LameDuck>,
    pub(crate) server_error: Recipient<AsyncServerError>,
}

impl std::fmt::Debug for SupervisorLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SupervisorLink")
    }
}
