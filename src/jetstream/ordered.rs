//! The ordered consumer (ADR-17): an ephemeral consumer with no acks that
//! this client owns, so it may recreate it. Every message of the stream
//! (or of its filters) arrives exactly once, in order: on a gap in the
//! consumer sequence, missed heartbeats, a reconnect, a lost consumer or
//! an error, the consumer is recreated from the last stream sequence
//! delivered + 1, and the one it replaces is deleted (so reconnect storms
//! leave no orphans on the server).
//!
//! It pulls continuously (ADR-37): one inbox subscription per consumer,
//! pulls refilled at half the batch (and half the byte bound), idle
//! heartbeats requested with every pull, so a message arrives as soon as
//! it is stored. KV watches and object-store reads are built on it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::Context;
use super::consumer::{AckPolicy, ConsumerConfig, DeliverPolicy};
use super::message::{JsMsg, MsgInfo};
use crate::client::{EventStream, Subscriber};
use crate::headers::StatusCode;
use crate::{Error, ErrorKind, Event, Msg};

/// Where an ordered consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderedStart {
    /// From the first message.
    All,
    /// From the last message of the stream (or of its filters).
    Last,
    /// The last message of every subject, then what follows (a KV watch).
    LastPerSubject,
    /// Only what is stored after it starts.
    New,
    /// From this stream sequence.
    Sequence(u64),
}

/// How an ordered consumer reads. See [`Context::ordered_with`].
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::{OrderedOptions, OrderedStart};
/// let o = OrderedOptions::new()
///     .filter("$KV.config.>")
///     .start(OrderedStart::LastPerSubject)
///     .headers_only(true);
/// assert_eq!(o.filters.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderedOptions {
    /// The subjects to read (none: the whole stream). Several need
    /// nats-server 2.10.
    pub filters: Vec<String>,
    /// Where to start.
    pub start: OrderedStart,
    /// Deliver headers only (the payload's size is in `Nats-Msg-Size`).
    pub headers_only: bool,
    /// Messages asked for per pull (256).
    pub batch: usize,
    /// Bytes asked for per pull (0: no bound; bounds the memory held).
    pub max_bytes: usize,
    /// The idle heartbeat asked of the server (5 s); two missed ones
    /// recreate the consumer.
    pub heartbeat: Duration,
    /// How long [`OrderedConsumer::next`] waits before `Ok(None)` (1 s).
    pub idle_wait: Duration,
}

impl Default for OrderedOptions {
    fn default() -> Self {
        OrderedOptions {
            filters: Vec::new(),
            start: OrderedStart::All,
            headers_only: false,
            batch: 256,
            max_bytes: 0,
            heartbeat: Duration::from_secs(5),
            idle_wait: Duration::from_secs(1),
        }
    }
}

impl OrderedOptions {
    /// The whole stream from the first message.
    pub fn new() -> OrderedOptions {
        OrderedOptions::default()
    }
    /// Adds a filter subject.
    pub fn filter(mut self, subject: impl Into<String>) -> Self {
        self.filters.push(subject.into());
        self
    }
    /// Sets where to start.
    pub fn start(mut self, start: OrderedStart) -> Self {
        self.start = start;
        self
    }
    /// Delivers headers only.
    pub fn headers_only(mut self, on: bool) -> Self {
        self.headers_only = on;
        self
    }
    /// Sets the messages per pull.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// Sets the bytes per pull.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }
    /// Sets the idle heartbeat.
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = d.max(Duration::from_millis(100));
        self
    }
    /// Sets how long `next` waits before `Ok(None)`.
    pub fn idle_wait(mut self, d: Duration) -> Self {
        self.idle_wait = d;
        self
    }
}

/// How long a pull is held by the server.
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// An ordered view of a stream. Get one from [`Context::ordered`] or
/// [`Context::ordered_with`].
#[derive(Debug)]
pub struct OrderedConsumer {
    js: Context,
    stream: String,
    opts: OrderedOptions,
    /// The consumer's name while it exists.
    name: Option<String>,
    inbox: String,
    sub: Option<Subscriber>,
    events: Option<EventStream>,
    last_stream_seq: u64,
    last_consumer_seq: u64,
    /// Messages still to come from the server (as the server tells).
    pending: u64,
    outstanding: usize,
    outstanding_bytes: usize,
    pulled_at: Instant,
    last_seen: Instant,
    /// Delivered messages with their parsed ack-subject metadata.
    buffered: VecDeque<(JsMsg, MsgInfo)>,
    /// Consumers created (1 + recreations).
    pub created: u64,
    /// How many times it resumed past messages the stream no longer has
    /// (each reported as an [`Event::Error`](crate::Event::Error)).
    pub gaps: u64,
}

impl Context {
    /// An ordered consumer over `stream` (only `filter` if given), from
    /// the first message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let mut ordered = js.ordered("ORDERS", Some("orders.>"));
    /// while let Some(m) = ordered.next().await? {
    ///     println!("{} {}", m.info()?.stream_seq, m.subject());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ordered(&self, stream: &str, filter: Option<&str>) -> OrderedConsumer {
        self.ordered_from(stream, filter, 1)
    }

    /// An ordered consumer starting at stream sequence `start_seq`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let mut from_100 = js.ordered_from("ORDERS", None, 100);
    /// if let Some(m) = from_100.next().await? {
    ///     assert!(m.info()?.stream_seq >= 100);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ordered_from(
        &self,
        stream: &str,
        filter: Option<&str>,
        start_seq: u64,
    ) -> OrderedConsumer {
        let mut opts = OrderedOptions::new().start(OrderedStart::Sequence(start_seq.max(1)));
        opts.filters.extend(filter.map(str::to_string));
        self.ordered_with(stream, opts)
    }

    /// An ordered consumer with every option: several filters, where to
    /// start, headers only, per-pull bounds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::{OrderedOptions, OrderedStart};
    /// let opts = OrderedOptions::new().filter("orders.eu.>").start(OrderedStart::New);
    /// let mut fresh = js.ordered_with("ORDERS", opts);
    /// if let Some(m) = fresh.next().await? {
    ///     println!("new: {}", m.subject());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ordered_with(&self, stream: &str, opts: OrderedOptions) -> OrderedConsumer {
        let now = Instant::now();
        OrderedConsumer {
            js: self.clone(),
            stream: stream.to_string(),
            opts,
            name: None,
            inbox: String::new(),
            sub: None,
            events: None,
            last_stream_seq: 0,
            last_consumer_seq: 0,
            pending: 0,
            outstanding: 0,
            outstanding_bytes: 0,
            pulled_at: now,
            last_seen: now,
            buffered: VecDeque::new(),
            created: 0,
            gaps: 0,
        }
    }
}

/// What one step of the read loop saw.
enum Step {
    Msg(Box<Msg>),
    Event(Event),
    Ended,
    Idle,
}

impl OrderedConsumer {
    /// The stream sequence of the last message delivered.
    pub fn last_stream_seq(&self) -> u64 {
        self.last_stream_seq
    }

    /// How many messages the stream held for this consumer after the last
    /// one delivered (or at creation, before any), as the server said:
    /// 0 means it has caught up (the end of a watch's initial data).
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Creates the consumer now (otherwise the first `next` does), so that
    /// [`OrderedConsumer::pending`] tells how much the stream holds.
    ///
    /// # Errors
    ///
    /// The API's, such as a stream that does not exist.
    pub async fn start(&mut self) -> Result<(), Error> {
        if self.name.is_none()
            && let Err(e) = self.recreate().await
        {
            self.reset();
            return Err(e);
        }
        Ok(())
    }

    /// The client it reads with.
    pub(crate) fn client(&self) -> &crate::Client {
        self.js.client()
    }

    /// Whether the consumer exists on the server now.
    pub fn is_created(&self) -> bool {
        self.name.is_some()
    }

    fn config(&self, name: &str) -> ConsumerConfig {
        let mut cfg = ConsumerConfig::ephemeral();
        cfg.name = Some(name.to_string());
        cfg.ack_policy = AckPolicy::None;
        cfg.mem_storage = true;
        cfg.num_replicas = 1;
        cfg.max_deliver = 1;
        cfg.headers_only = self.opts.headers_only;
        cfg.inactive_threshold = Duration::from_secs(300);
        match self.opts.filters.as_slice() {
            [] => {}
            [one] => cfg.filter_subject = Some(one.clone()),
            many => cfg.filter_subjects = many.to_vec(),
        }
        if self.last_stream_seq > 0 {
            cfg.deliver_policy = DeliverPolicy::ByStartSequence;
            cfg.opt_start_seq = Some(self.last_stream_seq + 1);
        } else {
            match self.opts.start {
                OrderedStart::All | OrderedStart::Sequence(0 | 1) => {}
                OrderedStart::Last => cfg.deliver_policy = DeliverPolicy::Last,
                OrderedStart::LastPerSubject => {
                    cfg.deliver_policy = DeliverPolicy::LastPerSubject;
                }
                OrderedStart::New => cfg.deliver_policy = DeliverPolicy::New,
                OrderedStart::Sequence(seq) => {
                    cfg.deliver_policy = DeliverPolicy::ByStartSequence;
                    cfg.opt_start_seq = Some(seq);
                }
            }
        }
        cfg
    }

    /// Drops the consumer (deleting it on the server in the background)
    /// and its subscription.
    fn reset(&mut self) {
        if let Some(old) = self.name.take() {
            delete_later(&self.js, &self.stream, old);
        }
        if let Some(mut sub) = self.sub.take() {
            tokio::spawn(async move {
                let _ = sub.unsubscribe().await;
            });
        }
        self.buffered.clear();
        self.outstanding = 0;
        self.outstanding_bytes = 0;
    }

    async fn recreate(&mut self) -> Result<(), Error> {
        self.reset();
        if self.events.is_none() {
            self.events = Some(self.js.client().events().await);
        }
        let name = format!("ord_{}", crate::nuid::next());
        let inbox = self.js.client().new_inbox();
        let mut sub = self.js.client().subscribe(inbox.clone()).await?;
        let info = match self
            .js
            .create_consumer(&self.stream, self.config(&name))
            .await
        {
            Ok(info) => info,
            Err(e) => {
                let _ = sub.unsubscribe().await;
                return Err(e);
            }
        };
        self.name = Some(name);
        self.inbox = inbox;
        self.sub = Some(sub);
        self.last_consumer_seq = 0;
        self.pending = info.num_pending;
        self.created += 1;
        if self.last_stream_seq > 0 {
            self.check_gap().await;
        }
        self.last_seen = Instant::now();
        self.pull().await?;
        Ok(())
    }

    /// After a resume: messages after the last delivered one that the
    /// stream no longer has (expired, purged, over a per-subject limit)
    /// cannot be delivered; say so rather than skip them silently.
    async fn check_gap(&mut self) {
        let Ok(info) = self.js.stream_info(&self.stream).await else {
            return;
        };
        let (from, first) = (self.last_stream_seq + 1, info.state.first_seq);
        if first <= from {
            return;
        }
        self.gaps += 1;
        let text = format!(
            "ordered consumer on {}: resumed at stream sequence {first}, but {from}..={} are gone from the stream (expired, purged or over a limit) and cannot be delivered",
            self.stream,
            first - 1
        );
        tracing::warn!("{text}");
        self.js
            .client()
            .emit_event(Event::Error(Error::with_source(ErrorKind::JetStream, text)));
    }

    /// Asks for more when what is outstanding is below half the bounds.
    async fn pull(&mut self) -> Result<(), Error> {
        let Some(name) = self.name.clone() else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= self.pulled_at + PULL_EXPIRES {
            // The earlier pulls have expired by now.
            self.outstanding = 0;
            self.outstanding_bytes = 0;
        }
        let (batch, max_bytes) = (self.opts.batch, self.opts.max_bytes);
        let low_msgs = self.outstanding <= batch / 2;
        let low_bytes = max_bytes > 0 && self.outstanding_bytes <= max_bytes / 2;
        if !low_msgs && !low_bytes {
            return Ok(());
        }
        let want = batch.saturating_sub(self.outstanding);
        let want_bytes = max_bytes.saturating_sub(self.outstanding_bytes);
        if want == 0 || (max_bytes > 0 && want_bytes == 0) {
            return Ok(());
        }
        let mut body = serde_json::json!({
            "batch": want,
            "expires": PULL_EXPIRES.as_nanos() as u64,
            "idle_heartbeat": self.opts.heartbeat.as_nanos() as u64,
        });
        if max_bytes > 0 {
            body["max_bytes"] = serde_json::json!(want_bytes);
        }
        let subject = format!(
            "{}.CONSUMER.MSG.NEXT.{}.{}",
            self.js.prefix(),
            self.stream,
            name
        );
        self.js
            .client()
            .publish_with_reply(subject, self.inbox.clone(), body.to_string())
            .await?;
        self.outstanding += want;
        if max_bytes > 0 {
            self.outstanding_bytes += want_bytes;
        }
        self.pulled_at = now;
        Ok(())
    }

    /// The next message, waiting up to the idle wait (1 s) for one;
    /// `Ok(None)` when the stream has nothing more for now (call again to
    /// wait for more).
    ///
    /// # Errors
    ///
    /// The API's when the consumer cannot be (re)created, such as a
    /// stream that does not exist; `Closed` after the client closed.
    pub async fn next(&mut self) -> Result<Option<JsMsg>, Error> {
        self.next_within(self.opts.idle_wait).await
    }

    /// [`OrderedConsumer::next`] waiting up to `wait`.
    ///
    /// # Errors
    ///
    /// As [`OrderedConsumer::next`].
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<JsMsg>, Error> {
        Ok(self.next_with_info(wait).await?.map(|(m, _)| m))
    }

    /// [`OrderedConsumer::next_within`] with the message's metadata, as
    /// parsed once on arrival.
    pub(crate) async fn next_with_info(
        &mut self,
        wait: Duration,
    ) -> Result<Option<(JsMsg, MsgInfo)>, Error> {
        let deadline = Instant::now() + wait;
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(next) = self.buffered.pop_front() {
                return Ok(Some(next));
            }
            if self.name.is_none() {
                match self.recreate().await {
                    Ok(()) => backoff = Duration::from_millis(50),
                    Err(e) if e.kind() == ErrorKind::Closed || !transient(&e) => {
                        self.reset();
                        return Err(e);
                    }
                    Err(_) => {
                        // The server is away (restarting, a leader
                        // moving): try again shortly.
                        self.reset();
                        if Instant::now() >= deadline {
                            return Ok(None);
                        }
                        tokio::time::sleep(backoff.min(deadline - Instant::now())).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            let hb_deadline = self.last_seen + self.opts.heartbeat * 2;
            let until = deadline.min(hb_deadline);
            match self.step(until).await {
                Step::Msg(msg) => {
                    self.last_seen = Instant::now();
                    self.on_msg(*msg).await?;
                }
                Step::Event(Event::Reconnected { .. }) => {
                    // Pulls do not survive the old link; the consumer may
                    // not have either (a restarted server).
                    self.reset();
                }
                Step::Event(Event::Closed { .. }) | Step::Ended => {
                    if self.js.client().connection_state() == crate::ConnectionState::Closed {
                        self.reset();
                        return Err(Error::new(ErrorKind::Closed));
                    }
                    self.reset();
                }
                Step::Event(_) => {}
                Step::Idle => {
                    let now = Instant::now();
                    if now >= hb_deadline {
                        // Two heartbeats missed: start again after what
                        // was delivered.
                        let text = format!(
                            "ordered consumer on {}: two idle heartbeats missed; recreating after stream sequence {}",
                            self.stream, self.last_stream_seq
                        );
                        tracing::warn!("{text}");
                        self.js.client().emit_event(Event::Error(Error::with_source(
                            ErrorKind::JetStream,
                            text,
                        )));
                        self.reset();
                        continue;
                    }
                    if now >= deadline {
                        // Keep the pulls fresh while the caller idles.
                        self.pull().await?;
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn step(&mut self, until: Instant) -> Step {
        let Some(sub) = self.sub.as_mut() else {
            return Step::Ended;
        };
        // What is already here first: no timer or event future per message
        // while a batch streams in.
        if let Some(m) = sub.try_next_msg() {
            return Step::Msg(Box::new(m));
        }
        let events = self.events.as_mut();
        let event = async move {
            match events {
                Some(ev) => ev.next_event().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = sub.next_msg() => match m {
                Some(m) => Step::Msg(Box::new(m)),
                None => Step::Ended,
            },
            e = event => match e {
                Some(e) => Step::Event(e),
                None => Step::Ended,
            },
            _ = tokio::time::sleep_until(until) => Step::Idle,
        }
    }

    async fn on_msg(&mut self, msg: Msg) -> Result<(), Error> {
        match msg.status() {
            None => {
                let size = msg.subject.len()
                    + msg.reply.as_ref().map_or(0, |r| r.len())
                    + msg.headers.as_ref().map_or(0, |h| h.encoded_len())
                    + msg.payload.len();
                self.outstanding = self.outstanding.saturating_sub(1);
                self.outstanding_bytes = self.outstanding_bytes.saturating_sub(size);
                let m = JsMsg::new(msg, self.js.client().clone());
                let Ok(info) = m.info() else {
                    // Not from a consumer: ignore it.
                    return Ok(());
                };
                if info.consumer_seq != self.last_consumer_seq + 1 {
                    // A gap: start again after what was delivered.
                    self.reset();
                    return Ok(());
                }
                self.last_consumer_seq = info.consumer_seq;
                self.last_stream_seq = info.stream_seq;
                self.pending = info.pending;
                self.buffered.push_back((m, info));
                self.pull().await?;
            }
            Some(StatusCode::IDLE_HEARTBEAT) => {}
            Some(code) => {
                let h = msg.headers.as_ref();
                let description = h.and_then(|h| h.description()).unwrap_or_default();
                let count = |name: &str| h.and_then(|h| h.get(name)).and_then(|v| v.parse().ok());
                self.outstanding = count("Nats-Pending-Messages")
                    .map_or(0, |p| self.outstanding.saturating_sub(p));
                self.outstanding_bytes = count("Nats-Pending-Bytes")
                    .map_or(0, |p| self.outstanding_bytes.saturating_sub(p));
                if code == StatusCode::CONFLICT && description.contains("Deleted") {
                    // Someone deleted our consumer: make another.
                    self.reset();
                } else if code.as_u16() == 400 {
                    let err = super::ApiError {
                        code: 400,
                        err_code: 0,
                        description: description.to_string(),
                    };
                    self.reset();
                    return Err(err.into());
                } else {
                    // 404/408 (a pull ended), 409 (leadership change,
                    // limits): ask again.
                    self.pull().await?;
                }
            }
        }
        Ok(())
    }
}

fn delete_later(js: &Context, stream: &str, name: String) {
    let js = js.clone();
    let stream = stream.to_string();
    // Best effort: an ephemeral consumer also goes away by itself.
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(async move {
            let _ = js.delete_consumer(&stream, &name).await;
        });
    }
}

impl Drop for OrderedConsumer {
    /// Deletes the consumer it owns (in the background, when inside a
    /// runtime; it expires by itself otherwise).
    fn drop(&mut self) {
        self.reset();
    }
}

/// Errors after which trying again later can succeed.
fn transient(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::TimedOut
            | ErrorKind::NoResponders
            | ErrorKind::Disconnected
            | ErrorKind::NotConnected
            | ErrorKind::Io
    ) || super::ApiError::of(e).is_some_and(|a| a.code == 503)
}
