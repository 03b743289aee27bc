//! Consumers: configuration, the consumer API calls, and pull fetches.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Context;
use super::message::JsMsg;
use super::stream::nanos;
use crate::headers::StatusCode;
use crate::{Error, ErrorKind};

/// Where a consumer starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverPolicy {
    /// From the first message.
    #[default]
    All,
    /// From the last message.
    Last,
    /// Only new messages.
    New,
    /// From `opt_start_seq`.
    ByStartSequence,
    /// From `opt_start_time`.
    ByStartTime,
    /// The last message of each subject.
    LastPerSubject,
}

/// How messages are acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckPolicy {
    /// Each message on its own.
    #[default]
    Explicit,
    /// An ack covers every message before it.
    All,
    /// No acks.
    None,
}

/// How fast messages are replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayPolicy {
    /// As fast as possible.
    #[default]
    Instant,
    /// At the pace they were stored.
    Original,
}

fn is_zero_dur(d: &Duration) -> bool {
    d.is_zero()
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

mod nanos_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64),
        )
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Ok(Option::<Vec<u64>>::deserialize(d)?
            .unwrap_or_default()
            .into_iter()
            .map(Duration::from_nanos)
            .collect())
    }
}

/// A consumer's configuration: the fields of the 2.10 line. Fields a
/// server older than 2.10 does not know (`filter_subjects`, `metadata`)
/// are refused with the reason before the request is sent. `extra` carries
/// any other field untouched.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::jetstream::{AckPolicy, ConsumerConfig};
/// let c = ConsumerConfig::durable("worker")
///     .filter_subject("orders.>")
///     .ack_wait(Duration::from_secs(10))
///     .max_deliver(5);
/// assert_eq!(c.ack_policy, AckPolicy::Explicit);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// The durable name (kept when idle); `None` for an ephemeral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_name: Option<String>,
    /// The consumer's name (2.9+ create API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it starts.
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    /// The start sequence (`ByStartSequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_seq: Option<u64>,
    /// The start time, RFC 3339 (`ByStartTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    /// How messages are acknowledged.
    #[serde(default)]
    pub ack_policy: AckPolicy,
    /// How long the server waits for an ack before redelivering.
    #[serde(default, with = "nanos", skip_serializing_if = "is_zero_dur")]
    pub ack_wait: Duration,
    /// Most deliveries of one message (-1 or 0: unlimited).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_deliver: i64,
    /// Redelivery delays, one per delivery.
    #[serde(default, with = "nanos_vec", skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<Duration>,
    /// Only this subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_subject: Option<String>,
    /// Only these subjects (2.10+).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_subjects: Vec<String>,
    /// Replay pace.
    #[serde(default)]
    pub replay_policy: ReplayPolicy,
    /// Most unacknowledged messages in flight.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ack_pending: i64,
    /// Most pull requests waiting.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_waiting: i64,
    /// Deliver headers only, not payloads.
    #[serde(default, skip_serializing_if = "is_false")]
    pub headers_only: bool,
    /// How long an idle consumer lives.
    #[serde(default, with = "nanos", skip_serializing_if = "is_zero_dur")]
    pub inactive_threshold: Duration,
    /// Replicas (0: the stream's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_replicas: i64,
    /// Keep its state in memory.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mem_storage: bool,
    /// Metadata (2.10+).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, String>,
    /// Push consumers: where to deliver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_subject: Option<String>,
    /// Push consumers: the queue group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_group: Option<String>,
    /// Push consumers: flow control.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flow_control: bool,
    /// Idle heartbeats.
    #[serde(default, with = "nanos", skip_serializing_if = "is_zero_dur")]
    pub idle_heartbeat: Duration,
    /// Fields this client does not model, kept as the server sent them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ConsumerConfig {
    /// A durable pull consumer with explicit acks.
    pub fn durable(name: impl Into<String>) -> ConsumerConfig {
        let name = name.into();
        ConsumerConfig {
            durable_name: Some(name.clone()),
            name: Some(name),
            ..ConsumerConfig::default()
        }
    }

    /// An ephemeral pull consumer with explicit acks (it goes away after
    /// `inactive_threshold` unused).
    pub fn ephemeral() -> ConsumerConfig {
        ConsumerConfig::default()
    }

    /// Only this subject.
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.filter_subject = Some(subject.into());
        self
    }

    /// Only these subjects (2.10+).
    pub fn filter_subjects<I, S>(mut self, subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.filter_subjects = subjects.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the ack wait.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// Sets the most deliveries.
    pub fn max_deliver(mut self, n: i64) -> Self {
        self.max_deliver = n;
        self
    }

    /// Sets the ack policy.
    pub fn ack_policy(mut self, p: AckPolicy) -> Self {
        self.ack_policy = p;
        self
    }

    /// Sets the deliver policy.
    pub fn deliver_policy(mut self, p: DeliverPolicy) -> Self {
        self.deliver_policy = p;
        self
    }

    /// Sets the most unacknowledged messages in flight.
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = n;
        self
    }

    /// Sets metadata (2.10+).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A consumer's configuration and state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// The stream.
    pub stream_name: String,
    /// The consumer's name.
    pub name: String,
    /// Its configuration.
    pub config: ConsumerConfig,
    /// Messages not yet delivered.
    #[serde(default)]
    pub num_pending: u64,
    /// Messages delivered and not yet acknowledged.
    #[serde(default)]
    pub num_ack_pending: u64,
    /// Messages being redelivered.
    #[serde(default)]
    pub num_redelivered: u64,
    /// Pull requests waiting.
    #[serde(default)]
    pub num_waiting: u64,
    /// The other fields of the server's answer (`created`, `delivered`,
    /// `ack_floor`, `cluster`, ...), as it sent them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One pull request: how many messages, how long to wait, how many bytes
/// at most, and whether to return at once when nothing is pending.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::FetchOptions;
/// let f = FetchOptions::new(10).no_wait(true).max_bytes(1 << 20);
/// assert_eq!((f.batch, f.no_wait), (10, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Most messages.
    pub batch: usize,
    /// How long the server holds the request (1 s by default).
    pub expires: Duration,
    /// Most bytes (0: no bound; server 2.8.3 or newer).
    pub max_bytes: usize,
    /// Return at once with what is pending (a 404 when nothing is).
    pub no_wait: bool,
    /// The idle heartbeat asked of the server (ADR-37): by default 5 s
    /// when `expires` is 10 s or more, none otherwise. Two missed
    /// heartbeats end the fetch with a `TimedOut` error (the server or
    /// the consumer went away) instead of waiting out `expires`.
    pub heartbeat: Option<Duration>,
}

impl FetchOptions {
    /// Up to `batch` messages, waiting up to 1 s.
    pub fn new(batch: usize) -> FetchOptions {
        FetchOptions {
            batch: batch.max(1),
            expires: Duration::from_secs(1),
            max_bytes: 0,
            no_wait: false,
            heartbeat: None,
        }
    }
    /// Sets the idle heartbeat (less than half of `expires`).
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = Some(d);
        self
    }
    /// The heartbeat the request will carry, if any.
    fn effective_heartbeat(&self) -> Option<Duration> {
        if self.no_wait {
            return None;
        }
        match self.heartbeat {
            Some(d) if d > Duration::ZERO && d * 2 <= self.expires => Some(d),
            Some(_) => None,
            None if self.expires >= Duration::from_secs(10) => Some(Duration::from_secs(5)),
            None => None,
        }
    }
    /// Sets how long the server holds the request.
    pub fn expires(mut self, d: Duration) -> Self {
        self.expires = d;
        self
    }
    /// Sets the byte bound.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }
    /// Returns at once with what is pending.
    pub fn no_wait(mut self, on: bool) -> Self {
        self.no_wait = on;
        self
    }
}

#[derive(Deserialize)]
struct SuccessReply {
    #[serde(default)]
    success: bool,
}

impl Context {
    async fn server_version(&self) -> (u32, u32, u32) {
        self.client
            .server_info()
            .await
            .map_or((0, 0, 0), |i| super::server_version(&i.version))
    }

    /// Refuses, with the reason, the fields the server is too old for.
    async fn gate(&self, config: &ConsumerConfig) -> Result<(), Error> {
        let v = self.server_version().await;
        if v < (2, 10, 0) {
            let needs = if !config.filter_subjects.is_empty() {
                Some("filter_subjects")
            } else if !config.metadata.is_empty() {
                Some("metadata")
            } else {
                None
            };
            if let Some(field) = needs {
                return Err(Error::with_source(
                    ErrorKind::InvalidArgument,
                    format!(
                        "consumer field `{field}` needs nats-server >= 2.10.0, connected to {}.{}.{}",
                        v.0, v.1, v.2
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Creates a consumer on `stream` (or finds the identical one).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a field the server is too old for; the API's
    /// (`err_code` 10059 for a missing stream).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::ConsumerConfig;
    /// let info = js.create_consumer("ORDERS", ConsumerConfig::durable("worker")).await?;
    /// assert_eq!(info.name, "worker");
    /// # Ok(()) }
    /// ```
    pub async fn create_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<ConsumerInfo, Error> {
        self.gate(&config).await?;
        let body = serde_json::json!({ "stream_name": stream, "config": config });
        let suffix = match (&config.name, &config.durable_name, &config.filter_subject) {
            // The filter rides in the subject (for permissions) unless it
            // has wildcards, which a published subject cannot carry.
            (Some(name), _, Some(filter))
                if config.filter_subjects.is_empty()
                    && !filter.split('.').any(|t| t == "*" || t == ">") =>
            {
                format!("CONSUMER.CREATE.{stream}.{name}.{filter}")
            }
            (Some(name), _, _) => format!("CONSUMER.CREATE.{stream}.{name}"),
            (None, Some(durable), _) => format!("CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
            (None, None, _) => format!("CONSUMER.CREATE.{stream}"),
        };
        self.request(&suffix, &body).await
    }

    /// A consumer's info.
    ///
    /// # Errors
    ///
    /// `err_code` 10014 when it does not exist.
    pub async fn consumer_info(&self, stream: &str, consumer: &str) -> Result<ConsumerInfo, Error> {
        self.request_raw(&format!("CONSUMER.INFO.{stream}.{consumer}"), Bytes::new())
            .await
    }

    /// Deletes a consumer.
    ///
    /// # Errors
    ///
    /// `err_code` 10014 when it does not exist.
    pub async fn delete_consumer(&self, stream: &str, consumer: &str) -> Result<(), Error> {
        let r: SuccessReply = self
            .request_raw(
                &format!("CONSUMER.DELETE.{stream}.{consumer}"),
                Bytes::new(),
            )
            .await?;
        if !r.success {
            return Err(Error::with_source(
                ErrorKind::JetStream,
                "consumer delete not confirmed",
            ));
        }
        Ok(())
    }

    /// The names of a stream's consumers (paged until done).
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn consumer_names(&self, stream: &str) -> Result<Vec<String>, Error> {
        let suffix = format!("CONSUMER.NAMES.{stream}");
        self.paged(&suffix, "consumers", serde_json::Value::Null)
            .await
    }

    /// Every consumer's info on a stream (paged until done).
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>, Error> {
        let suffix = format!("CONSUMER.LIST.{stream}");
        self.paged(&suffix, "consumers", serde_json::Value::Null)
            .await
    }

    /// Pulls up to `batch` messages from a pull consumer, waiting at most
    /// `expires` for them. Returns what arrived (possibly fewer, or none).
    ///
    /// # Errors
    ///
    /// `JetStream` for a terminal status (the consumer was deleted, a
    /// limit was exceeded); the subscription's and publish's errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use std::time::Duration;
    /// for m in js.fetch("ORDERS", "worker", 10, Duration::from_secs(1)).await? {
    ///     println!("{}", m.subject());
    ///     m.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch(
        &self,
        stream: &str,
        consumer: &str,
        batch: usize,
        expires: Duration,
    ) -> Result<Vec<JsMsg>, Error> {
        self.fetch_with(stream, consumer, FetchOptions::new(batch).expires(expires))
            .await
    }

    /// [`Context::fetch`] with every option of a pull request (`max_bytes`,
    /// `no_wait`).
    ///
    /// # Errors
    ///
    /// As [`Context::fetch`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::FetchOptions;
    /// let now = js.fetch_with("ORDERS", "worker", FetchOptions::new(100).no_wait(true)).await?;
    /// println!("{} were waiting", now.len());
    /// # Ok(()) }
    /// ```
    pub async fn fetch_with(
        &self,
        stream: &str,
        consumer: &str,
        opts: FetchOptions,
    ) -> Result<Vec<JsMsg>, Error> {
        let (batch, expires) = (opts.batch, opts.expires);
        let inbox = self.client.new_inbox();
        let mut sub = self.client.subscribe(inbox.clone()).await?;
        let mut body = serde_json::json!({ "batch": batch });
        if opts.no_wait {
            body["no_wait"] = serde_json::json!(true);
        } else {
            body["expires"] =
                serde_json::json!(expires.as_nanos().min(u128::from(u64::MAX)) as u64);
        }
        if opts.max_bytes > 0 {
            body["max_bytes"] = serde_json::json!(opts.max_bytes);
        }
        let heartbeat = opts.effective_heartbeat();
        if let Some(hb) = heartbeat {
            body["idle_heartbeat"] = serde_json::json!(hb.as_nanos() as u64);
        }
        self.client
            .publish_with_reply(
                format!("{}.CONSUMER.MSG.NEXT.{stream}.{consumer}", self.prefix),
                inbox,
                serde_json::to_vec(&body)
                    .map_err(|e| Error::with_source(ErrorKind::Codec, e.to_string()))?,
            )
            .await?;
        let deadline = tokio::time::Instant::now() + expires + Duration::from_millis(500);
        let mut out = Vec::with_capacity(batch.min(1024));
        let mut last_seen = tokio::time::Instant::now();
        while out.len() < batch {
            let until = match heartbeat {
                Some(hb) => deadline.min(last_seen + hb * 2),
                None => deadline,
            };
            // What is already queued needs no timer.
            let queued = sub.try_next_msg();
            let msg = match queued {
                Some(m) => m,
                None => match tokio::time::timeout_at(until, sub.next_msg()).await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(_) if until < deadline && out.is_empty() => {
                        let _ = sub.unsubscribe().await;
                        return Err(Error::with_source(
                            ErrorKind::TimedOut,
                            "fetch: two idle heartbeats missed (the server or the consumer went away)",
                        ));
                    }
                    Err(_) => break,
                },
            };
            last_seen = tokio::time::Instant::now();
            match msg.status() {
                None => out.push(JsMsg::new(msg, self.client.clone())),
                // An idle heartbeat.
                Some(StatusCode::IDLE_HEARTBEAT) => {}
                // No messages / the request expired: done.
                Some(StatusCode::NOT_FOUND) | Some(StatusCode::REQUEST_TIMEOUT) => break,
                Some(code) => {
                    let description = msg
                        .headers
                        .as_ref()
                        .and_then(|h| h.description())
                        .unwrap_or_default()
                        .to_string();
                    // 409 Message Size Exceeds MaxBytes ends the request
                    // with what arrived; others are terminal errors.
                    if description.contains("MaxBytes") && !out.is_empty() {
                        break;
                    }
                    return Err(super::ApiError {
                        code: code.as_u16(),
                        err_code: 0,
                        description,
                    }
                    .into());
                }
            }
        }
        let _ = sub.unsubscribe().await;
        Ok(out)
    }
}
