//! Publish with acknowledgement: a JetStream publish is a request to the
//! stream's subject, answered by a [`PubAck`] once the message is stored.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::headers::HeaderMap;
use crate::messages::RequestOptions;
use crate::{Error, ErrorKind};

/// The stream's acknowledgement of a stored message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PubAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in the stream.
    pub seq: u64,
    /// True when a message with the same `Nats-Msg-Id` was already stored
    /// within the duplicate window: this one was not stored again.
    #[serde(default)]
    pub duplicate: bool,
    /// The JetStream domain, if any.
    #[serde(default)]
    pub domain: Option<String>,
}

/// Options of one publish: the message id (deduplication), the
/// expectations the stream checks before storing, headers, and the
/// no-responders retries of ADR-22.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::PublishOptions;
/// let o = PublishOptions::default().msg_id("order-17").expected_last_subject_sequence(3);
/// assert_eq!(o.msg_id.as_deref(), Some("order-17"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishOptions {
    /// `Nats-Msg-Id`: the stream stores a message with this id once
    /// within its duplicate window.
    pub msg_id: Option<String>,
    /// `Nats-Expected-Stream`.
    pub expected_stream: Option<String>,
    /// `Nats-Expected-Last-Msg-Id`.
    pub expected_last_msg_id: Option<String>,
    /// `Nats-Expected-Last-Sequence`.
    pub expected_last_sequence: Option<u64>,
    /// `Nats-Expected-Last-Subject-Sequence`.
    pub expected_last_subject_sequence: Option<u64>,
    /// More headers.
    pub headers: Option<HeaderMap>,
    /// The ack timeout (the context's by default).
    pub timeout: Option<Duration>,
    /// Attempts when nobody answers (a 503: the stream may be moving to
    /// another leader), as ADR-22 says: 2 retries by default.
    pub retries: usize,
    /// The wait between those attempts (250 ms by default).
    pub retry_wait: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            msg_id: None,
            expected_stream: None,
            expected_last_msg_id: None,
            expected_last_sequence: None,
            expected_last_subject_sequence: None,
            headers: None,
            timeout: None,
            retries: 2,
            retry_wait: Duration::from_millis(250),
        }
    }
}

impl PublishOptions {
    /// Sets `Nats-Msg-Id`.
    pub fn msg_id(mut self, id: impl Into<String>) -> Self {
        self.msg_id = Some(id.into());
        self
    }
    /// Sets `Nats-Expected-Stream`.
    pub fn expected_stream(mut self, stream: impl Into<String>) -> Self {
        self.expected_stream = Some(stream.into());
        self
    }
    /// Sets `Nats-Expected-Last-Msg-Id`.
    pub fn expected_last_msg_id(mut self, id: impl Into<String>) -> Self {
        self.expected_last_msg_id = Some(id.into());
        self
    }
    /// Sets `Nats-Expected-Last-Sequence`.
    pub fn expected_last_sequence(mut self, seq: u64) -> Self {
        self.expected_last_sequence = Some(seq);
        self
    }
    /// Sets `Nats-Expected-Last-Subject-Sequence`.
    pub fn expected_last_subject_sequence(mut self, seq: u64) -> Self {
        self.expected_last_subject_sequence = Some(seq);
        self
    }
    /// Adds headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }
    /// Sets the ack timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets the no-responders retries.
    pub fn retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }

    fn header_map(&self) -> Option<HeaderMap> {
        let mut h = self.headers.clone().unwrap_or_default();
        let mut set = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                h.insert(name, v);
            }
        };
        set("Nats-Msg-Id", self.msg_id.clone());
        set("Nats-Expected-Stream", self.expected_stream.clone());
        set(
            "Nats-Expected-Last-Msg-Id",
            self.expected_last_msg_id.clone(),
        );
        set(
            "Nats-Expected-Last-Sequence",
            self.expected_last_sequence.map(|s| s.to_string()),
        );
        set(
            "Nats-Expected-Last-Subject-Sequence",
            self.expected_last_subject_sequence.map(|s| s.to_string()),
        );
        if h.is_empty() { None } else { Some(h) }
    }
}

impl Context {
    /// Publishes to a stream and waits for its acknowledgement.
    ///
    /// # Errors
    ///
    /// `NoResponders` when no stream captures the subject (after the
    /// retries); `TimedOut` when no ack came in time (the message may or
    /// may not be stored: publish again with the same `msg_id` and the
    /// stream keeps one); `JetStream` with the stream's refusal (a failed
    /// expectation is `err_code` 10071).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let ack = js.publish("orders.new", r#"{"id":1}"#).await?;
    /// println!("#{} in {}", ack.seq, ack.stream);
    /// # Ok(()) }
    /// ```
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
    ) -> Result<PubAck, Error> {
        self.publish_with(subject, payload, PublishOptions::default())
            .await
    }

    /// [`Context::publish`] with a message id, expectations, headers.
    ///
    /// # Errors
    ///
    /// As [`Context::publish`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::PublishOptions;
    /// let opts = PublishOptions::default().msg_id("order-1");
    /// let first = js.publish_with("orders.new", "1", opts.clone()).await?;
    /// let again = js.publish_with("orders.new", "1", opts).await?;
    /// assert!(again.duplicate && again.seq == first.seq);
    /// # Ok(()) }
    /// ```
    pub async fn publish_with(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
        options: PublishOptions,
    ) -> Result<PubAck, Error> {
        let subject = subject.as_ref();
        let payload = payload.into();
        let headers = options.header_map();
        let timeout = options.timeout.unwrap_or(self.timeout);
        let mut attempt = 0;
        loop {
            let mut req = RequestOptions::default().timeout(timeout);
            if let Some(h) = &headers {
                req = req.headers(h.clone());
            }
            match self
                .client
                .request_with(subject.to_string(), payload.clone(), req)
                .await
            {
                Ok(msg) => return super::parse_reply(&msg),
                Err(e) if e.kind() == ErrorKind::NoResponders && attempt < options.retries => {
                    attempt += 1;
                    tokio::time::sleep(options.retry_wait).await;
                }
                Err(e) if e.kind() == ErrorKind::NoResponders => {
                    return Err(Error::with_source(
                        ErrorKind::NoResponders,
                        format!(
                            "no stream answered a publish to {subject} ({} attempts)",
                            attempt + 1
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What [`Context::publish_async`] does when the acks in flight are at the
/// bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait until an ack frees a slot (backpressure).
    #[default]
    Wait,
    /// Fail at once with `BufferFull`.
    Error,
}

/// The ack of a publish made with [`Context::publish_async`]; await it
/// with [`PubAckFuture::ack`]. Dropping it forgets the ack (the message
/// may still be stored) and frees its slot.
#[derive(Debug)]
pub struct PubAckFuture {
    reply: crate::client::PendingReply,
    timeout: Duration,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// `publish_async(...).await?.await` is `.ack()`.
///
/// # Examples
///
/// ```no_run
/// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
/// use nats_actix::jetstream::PublishOptions;
/// let pending = js.publish_async("orders.new", "1", PublishOptions::default()).await?;
/// let ack = pending.await?;
/// println!("stored as #{}", ack.seq);
/// # Ok(()) }
/// ```
impl std::future::IntoFuture for PubAckFuture {
    type Output = Result<PubAck, Error>;
    type IntoFuture = futures_core::future::BoxFuture<'static, Result<PubAck, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.ack())
    }
}

impl PubAckFuture {
    /// The stream's ack.
    ///
    /// # Errors
    ///
    /// `TimedOut` when no ack came within the timeout: a typed error, never
    /// a silent loss (publish again with the same msg id to be sure);
    /// `NoResponders` when no stream captures the subject; `JetStream`
    /// with the stream's refusal.
    pub async fn ack(self) -> Result<PubAck, Error> {
        let msg = self.reply.wait(self.timeout).await?;
        super::parse_reply(&msg)
    }
}

impl Context {
    /// Publishes without waiting for the ack: the message is written now,
    /// in call order, and the returned [`PubAckFuture`] resolves to its
    /// ack. At most `max_acks_in_flight` (see
    /// [`Context::max_acks_in_flight`]) are outstanding; at the bound the
    /// call waits or fails, as [`WhenFull`] says.
    ///
    /// # Errors
    ///
    /// `BufferFull` at the bound with [`WhenFull::Error`]; the publish's
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::PublishOptions;
    /// let mut acks = Vec::new();
    /// for i in 0..1000 {
    ///     acks.push(js.publish_async("orders.new", format!("{i}"), PublishOptions::default()).await?);
    /// }
    /// for a in acks {
    ///     a.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn publish_async(
        &self,
        subject: impl AsRef<str>,
        payload: impl Into<Bytes>,
        options: PublishOptions,
    ) -> Result<PubAckFuture, Error> {
        let slots = self.in_flight.clone();
        let slot = match self.when_full {
            WhenFull::Wait => slots
                .acquire_owned()
                .await
                .map_err(|_| Error::new(ErrorKind::Closed))?,
            WhenFull::Error => slots.try_acquire_owned().map_err(|_| {
                Error::with_source(
                    ErrorKind::BufferFull,
                    format!(
                        "{} JetStream acks already in flight (max_acks_in_flight)",
                        self.max_in_flight
                    ),
                )
            })?,
        };
        let headers = options.header_map();
        let reply = self
            .client
            .start_request(
                crate::Subject::from(subject.as_ref()),
                payload.into(),
                headers,
            )
            .await?;
        Ok(PubAckFuture {
            reply,
            timeout: options.timeout.unwrap_or(self.timeout),
            _slot: slot,
        })
    }
}
