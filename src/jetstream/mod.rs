//! JetStream: streams, publish with acks, consumers.
//!
//! A [`Context`] holds the API prefix (`$JS.API`, or `$JS.<domain>.API`, or
//! any prefix for an account import), a request timeout (5 s, not the core
//! 1 s: JetStream API calls can wait on a cluster), and the [`Client`] it
//! talks through. Every API call is a request to `<prefix>.<verb>...` with
//! a JSON body; an error reply becomes an [`ErrorKind::JetStream`] error
//! whose source is an [`ApiError`] with the server's `code`, `err_code` and
//! description.
//!
//! ```no_run
//! use nats_actix::jetstream::{self, StreamConfig};
//!
//! # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
//! let js = jetstream::Context::new(client);
//! js.create_stream(StreamConfig::new("ORDERS", ["orders.>"])).await?;
//! let ack = js.publish("orders.new", "{}").await?;
//! println!("stored as {} #{}", ack.stream, ack.seq);
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::messages::RequestOptions;
use crate::{Client, Error, ErrorKind, Msg};

mod consumer;
pub mod kv;
mod message;
pub mod object;
mod ordered;
mod publish;
mod pull;
mod push;
mod stream;
mod watching;

pub use consumer::{
    AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, FetchOptions, ReplayPolicy,
};
pub use message::{AckKind, JsMsg, MsgInfo};
pub use ordered::{OrderedConsumer, OrderedOptions, OrderedStart};
pub use publish::{PubAck, PubAckFuture, PublishOptions, WhenFull};
pub use pull::{ConsumeOptions, ConsumerHandle, JsStream, PullConsumer};
pub use push::PushSubscriber;
pub use stream::{
    DiscardPolicy, PurgeRequest, RetentionPolicy, StorageType, StoredMessage, StreamConfig,
    StreamInfo, StreamState,
};
pub use watching::Watch;

/// An error reply of the JetStream API (ADR-1): the HTTP-like `code`, the
/// server's stable `err_code` and its description.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::ApiError;
/// let e = ApiError { code: 404, err_code: ApiError::STREAM_NOT_FOUND, description: "stream not found".into() };
/// assert_eq!(e.to_string(), "stream not found (404, err_code 10059)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The HTTP-like status (400, 404, 500, 503, ...).
    pub code: u16,
    /// The server's error identifier (see the constants).
    #[serde(default)]
    pub err_code: u64,
    /// What went wrong, as the server says it.
    #[serde(default)]
    pub description: String,
}

impl ApiError {
    /// A consumer that does not exist.
    pub const CONSUMER_NOT_FOUND: u64 = 10014;
    /// No message matched a get.
    pub const NO_MESSAGE_FOUND: u64 = 10037;
    /// A stream of that name exists with another configuration.
    pub const STREAM_NAME_IN_USE: u64 = 10058;
    /// A stream that does not exist.
    pub const STREAM_NOT_FOUND: u64 = 10059;
    /// `Nats-Expected-Last-Sequence` (or subject sequence) did not hold.
    pub const WRONG_LAST_SEQUENCE: u64 = 10071;
    /// The same, as replicated streams say it (the KV store reports it as
    /// [`ApiError::WRONG_LAST_SEQUENCE`]).
    pub const WRONG_LAST_SEQUENCE_CLUSTERED: u64 = 10164;

    /// The API error behind a crate [`Error`], if it is one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) {
    /// use nats_actix::jetstream::ApiError;
    /// match js.stream_info("NOPE").await {
    ///     Err(e) if ApiError::of(&e).is_some_and(|a| a.err_code == ApiError::STREAM_NOT_FOUND) => {}
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    pub fn of(err: &Error) -> Option<&ApiError> {
        std::error::Error::source(err).and_then(|s| s.downcast_ref::<ApiError>())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, err_code {})",
            self.description, self.code, self.err_code
        )
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        Error::with_source(ErrorKind::JetStream, e)
    }
}

/// The account's JetStream usage and limits (`$JS.API.INFO`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountInfo {
    /// Bytes of memory storage in use.
    #[serde(default)]
    pub memory: u64,
    /// Bytes of file storage in use.
    #[serde(default)]
    pub storage: u64,
    /// Streams.
    #[serde(default)]
    pub streams: u64,
    /// Consumers.
    #[serde(default)]
    pub consumers: u64,
    /// The JetStream domain, if any.
    #[serde(default)]
    pub domain: Option<String>,
}

/// The API prefix without a domain.
pub const DEFAULT_PREFIX: &str = "$JS.API";

/// A JetStream context over a [`Client`].
#[derive(Clone, Debug)]
pub struct Context {
    client: Client,
    prefix: String,
    timeout: Duration,
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
    when_full: publish::WhenFull,
}

/// The default bound on acks in flight of [`Context::publish_async`].
pub const DEFAULT_MAX_ACKS_IN_FLIGHT: usize = 4000;

/// The default timeout of a JetStream API call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Context {
    /// A context on the account's own JetStream (`$JS.API`).
    pub fn new(client: Client) -> Context {
        Context {
            client,
            prefix: DEFAULT_PREFIX.to_string(),
            timeout: DEFAULT_TIMEOUT,
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_ACKS_IN_FLIGHT)),
            max_in_flight: DEFAULT_MAX_ACKS_IN_FLIGHT,
            when_full: publish::WhenFull::Wait,
        }
    }

    /// A context on the JetStream of `domain` (`$JS.<domain>.API`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(client: nats_actix::Client) {
    /// let js = nats_actix::jetstream::Context::with_domain(client, "hub");
    /// assert_eq!(js.prefix(), "$JS.hub.API");
    /// # }
    /// ```
    pub fn with_domain(client: Client, domain: &str) -> Context {
        Context {
            prefix: format!("$JS.{domain}.API"),
            ..Context::new(client)
        }
    }

    /// A context with an explicit API prefix (an imported account's, say),
    /// written without a trailing dot.
    pub fn with_prefix(client: Client, prefix: impl Into<String>) -> Context {
        let prefix: String = prefix.into();
        Context {
            prefix: prefix.trim_end_matches('.').to_string(),
            ..Context::new(client)
        }
    }

    /// Sets the timeout of every API call and publish ack (5 s default).
    pub fn timeout(mut self, timeout: Duration) -> Context {
        self.timeout = timeout;
        self
    }

    /// Bounds the acks in flight of [`Context::publish_async`] (4000 by
    /// default), and says what a publish at the bound does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(client: nats_actix::Client) {
    /// use nats_actix::jetstream::{Context, WhenFull};
    /// let js = Context::new(client).max_acks_in_flight(256, WhenFull::Error);
    /// # }
    /// ```
    pub fn max_acks_in_flight(mut self, max: usize, when_full: publish::WhenFull) -> Context {
        let max = max.max(1);
        self.in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(max));
        self.max_in_flight = max;
        self.when_full = when_full;
        self
    }

    /// The API prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One API call: a request to `<prefix>.<suffix>` with a JSON body,
    /// the reply parsed as `R` or turned into an [`ApiError`].
    pub(crate) async fn request<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        suffix: &str,
        body: &B,
    ) -> Result<R, Error> {
        let payload = serde_json::to_vec(body)
            .map_err(|e| Error::with_source(ErrorKind::Codec, e.to_string()))?;
        self.request_raw(suffix, Bytes::from(payload)).await
    }

    pub(crate) async fn request_raw<R: DeserializeOwned>(
        &self,
        suffix: &str,
        payload: Bytes,
    ) -> Result<R, Error> {
        let subject = format!("{}.{suffix}", self.prefix);
        let msg = self
            .client
            .request_with(
                subject,
                payload,
                RequestOptions::default().timeout(self.timeout),
            )
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NoResponders => Error::with_source(
                    ErrorKind::NoResponders,
                    "JetStream is not enabled (no responders on the API)",
                ),
                _ => e,
            })?;
        parse_reply(&msg)
    }

    /// Any JetStream API call, for what this crate does not model: a
    /// request to `<prefix>.<suffix>` with `body` (empty for none), the
    /// reply as the server sent it, or its error as an [`ApiError`].
    ///
    /// # Errors
    ///
    /// `JetStream` with the API's error; `NoResponders` when JetStream is
    /// not enabled; `TimedOut`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let info = js.api_request("STREAM.INFO.ORDERS", bytes::Bytes::new()).await?;
    /// println!("created {}", info["created"]);
    /// # Ok(()) }
    /// ```
    pub async fn api_request(
        &self,
        suffix: &str,
        body: impl Into<Bytes>,
    ) -> Result<serde_json::Value, Error> {
        self.request_raw(suffix, body.into()).await
    }

    /// A paged API listing (`NAMES`/`LIST`), asked again from the next
    /// offset until `total` items arrived: the `key` array of every page.
    pub(crate) async fn paged<T: DeserializeOwned>(
        &self,
        suffix: &str,
        key: &str,
        filter: serde_json::Value,
    ) -> Result<Vec<T>, Error> {
        let mut out: Vec<T> = Vec::new();
        loop {
            let mut body = filter.clone();
            if !body.is_object() {
                body = serde_json::json!({});
            }
            body["offset"] = serde_json::json!(out.len());
            let mut page: serde_json::Value = self.request(suffix, &body).await?;
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            let items: Vec<T> = match page.get_mut(key).map(serde_json::Value::take) {
                Some(serde_json::Value::Null) | None => Vec::new(),
                Some(v) => serde_json::from_value(v).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Protocol,
                        format!("unexpected {suffix} page: {e}"),
                    )
                })?,
            };
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// The account's JetStream usage.
    ///
    /// # Errors
    ///
    /// `NoResponders` when JetStream is not enabled; the API's errors.
    pub async fn account_info(&self) -> Result<AccountInfo, Error> {
        self.request_raw("INFO", Bytes::new()).await
    }
}

/// A bucket's (KV or object store) stream that does not exist is
/// `BucketNotFound`; other errors stay as they are.
pub(crate) fn bucket_error(e: Error, bucket: &str) -> Error {
    match ApiError::of(&e) {
        Some(a) if a.err_code == ApiError::STREAM_NOT_FOUND => Error::with_source(
            ErrorKind::BucketNotFound,
            format!("bucket {bucket:?} does not exist"),
        ),
        _ => e,
    }
}

/// What a failed get from a bucket's stream means: `Ok(())` for "no
/// such message"; `BucketNotFound` when the stream is gone (asked of its
/// info when a direct get found no responder, or timed out as 2.9 lets
/// it); else the error.
pub(crate) async fn bucket_get_failed(
    js: &Context,
    stream: &str,
    bucket: &str,
    direct: bool,
    e: Error,
) -> Result<(), Error> {
    if ApiError::of(&e).is_some_and(|a| a.code == 404 || a.err_code == ApiError::NO_MESSAGE_FOUND) {
        return Ok(());
    }
    if direct && matches!(e.kind(), ErrorKind::NoResponders | ErrorKind::TimedOut) {
        return match js.stream_info(stream).await {
            Err(info) => Err(bucket_error(info, bucket)),
            Ok(_) => Err(e),
        };
    }
    Err(bucket_error(e, bucket))
}

/// What the KV and object stores share: a bucket is the stream
/// `<prefix><bucket>` (`KV_`, `OBJ_`).
impl Context {
    /// The bucket's stream; a missing one is `BucketNotFound`.
    pub(crate) async fn bucket_stream(
        &self,
        prefix: &str,
        bucket: &str,
    ) -> Result<StreamInfo, Error> {
        self.stream_info(&format!("{prefix}{bucket}"))
            .await
            .map_err(|e| bucket_error(e, bucket))
    }

    /// Deletes the bucket's stream; a missing one is `BucketNotFound`.
    pub(crate) async fn delete_bucket_stream(
        &self,
        prefix: &str,
        bucket: &str,
    ) -> Result<(), Error> {
        self.delete_stream(&format!("{prefix}{bucket}"))
            .await
            .map_err(|e| bucket_error(e, bucket))
    }

    /// The buckets whose streams capture `subjects` and are named
    /// `<prefix><bucket>`.
    pub(crate) async fn bucket_names(
        &self,
        subjects: &str,
        prefix: &str,
    ) -> Result<Vec<String>, Error> {
        let names = self.stream_names(Some(subjects)).await?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix(prefix).map(str::to_string))
            .collect())
    }

    /// The streams of every bucket named `<prefix><bucket>`.
    pub(crate) async fn bucket_streams(&self, prefix: &str) -> Result<Vec<StreamInfo>, Error> {
        Ok(self
            .streams()
            .await?
            .into_iter()
            .filter(|i| i.config.name.starts_with(prefix))
            .collect())
    }
}

pub(crate) fn parse_reply<R: DeserializeOwned>(msg: &Msg) -> Result<R, Error> {
    let mut value: serde_json::Value = serde_json::from_slice(&msg.payload).map_err(|e| {
        Error::with_source(
            ErrorKind::Protocol,
            format!("malformed JetStream API reply: {e}"),
        )
    })?;
    if let Some(err) = value.get_mut("error").map(serde_json::Value::take) {
        let api: ApiError = serde_json::from_value(err).map_err(|e| {
            Error::with_source(ErrorKind::Protocol, format!("malformed API error: {e}"))
        })?;
        return Err(api.into());
    }
    serde_json::from_value(value).map_err(|e| {
        Error::with_source(
            ErrorKind::Protocol,
            format!("unexpected JetStream API reply: {e}"),
        )
    })
}

/// `(major, minor, patch)` of a version string such as `2.10.4`.
pub(crate) fn server_version(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}
