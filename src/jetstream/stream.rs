//! Streams: configuration, info, and the stream API calls of a
//! [`Context`].

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::headers::HeaderMap;
use crate::{Error, ErrorKind};

/// Where a stream keeps its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// On disk (the server's default).
    #[default]
    File,
    /// In memory.
    Memory,
}

/// When messages leave a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionPolicy {
    /// Kept up to the limits.
    #[default]
    Limits,
    /// Removed once every consumer has acknowledged them.
    Interest,
    /// Removed once one consumer has acknowledged them.
    #[serde(rename = "workqueue")]
    WorkQueue,
}

/// What a full stream does with a new message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscardPolicy {
    /// Drop the oldest messages.
    #[default]
    Old,
    /// Refuse the new one.
    New,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

pub(crate) mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_nanos().min(u128::from(u64::MAX)) as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(d)?))
    }
}

/// A stream's configuration (the fields every server since 2.9 knows;
/// `extra` carries any other field to and from the server untouched).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::jetstream::{StorageType, StreamConfig};
/// let c = StreamConfig::new("ORDERS", ["orders.>"])
///     .storage(StorageType::Memory)
///     .max_age(Duration::from_secs(3600));
/// assert_eq!(c.name, "ORDERS");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamConfig {
    /// The stream's name.
    pub name: String,
    /// The subjects it captures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Retention policy.
    #[serde(default)]
    pub retention: RetentionPolicy,
    /// Most messages (-1 unlimited).
    #[serde(default = "unlimited")]
    pub max_msgs: i64,
    /// Most bytes (-1 unlimited).
    #[serde(default = "unlimited")]
    pub max_bytes: i64,
    /// Oldest message age (0 unlimited).
    #[serde(default, with = "nanos")]
    pub max_age: Duration,
    /// Most messages per subject (-1 unlimited; KV history).
    #[serde(default = "unlimited")]
    pub max_msgs_per_subject: i64,
    /// Largest message (-1 unlimited).
    #[serde(default = "unlimited", rename = "max_msg_size")]
    pub max_message_size: i64,
    /// Storage type.
    #[serde(default)]
    pub storage: StorageType,
    /// Replicas (1 by default).
    #[serde(default = "one", rename = "num_replicas")]
    pub replicas: i64,
    /// What a full stream does.
    #[serde(default)]
    pub discard: DiscardPolicy,
    /// The window within which a `Nats-Msg-Id` is deduplicated.
    #[serde(default, with = "nanos")]
    pub duplicate_window: Duration,
    /// Whether `Nats-Rollup` headers are honoured.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_rollup_hdrs: bool,
    /// Whether messages may not be deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_delete: bool,
    /// Whether purges are refused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny_purge: bool,
    /// Whether direct gets are allowed (2.9+).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_direct: bool,
    /// The first sequence (2.10+; 0 means the server's default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_seq: i64,
    /// Fields this client does not model, kept as the server sent them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn unlimited() -> i64 {
    -1
}

fn one() -> i64 {
    1
}

impl StreamConfig {
    /// A stream `name` capturing `subjects`, every limit unlimited.
    pub fn new<I, S>(name: impl Into<String>, subjects: I) -> StreamConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        StreamConfig {
            name: name.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            max_msgs: -1,
            max_bytes: -1,
            max_msgs_per_subject: -1,
            max_message_size: -1,
            replicas: 1,
            ..StreamConfig::default()
        }
    }

    /// Sets the storage type.
    pub fn storage(mut self, storage: StorageType) -> StreamConfig {
        self.storage = storage;
        self
    }

    /// Sets the number of replicas.
    pub fn replicas(mut self, n: i64) -> StreamConfig {
        self.replicas = n;
        self
    }

    /// Sets the oldest message age.
    pub fn max_age(mut self, age: Duration) -> StreamConfig {
        self.max_age = age;
        self
    }

    /// Sets the most messages kept.
    pub fn max_msgs(mut self, n: i64) -> StreamConfig {
        self.max_msgs = n;
        self
    }

    /// Sets the retention policy.
    pub fn retention(mut self, r: RetentionPolicy) -> StreamConfig {
        self.retention = r;
        self
    }

    /// Sets the deduplication window.
    pub fn duplicate_window(mut self, w: Duration) -> StreamConfig {
        self.duplicate_window = w;
        self
    }

    /// Allows direct gets.
    pub fn allow_direct(mut self, on: bool) -> StreamConfig {
        self.allow_direct = on;
        self
    }
}

/// A stream's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamState {
    /// Messages stored.
    #[serde(default)]
    pub messages: u64,
    /// Bytes stored.
    #[serde(default)]
    pub bytes: u64,
    /// The first sequence.
    #[serde(default)]
    pub first_seq: u64,
    /// The last sequence.
    #[serde(default)]
    pub last_seq: u64,
    /// Consumers.
    #[serde(default)]
    pub consumer_count: u64,
    /// Subjects and their message counts (when asked for).
    #[serde(default)]
    pub subjects: Option<std::collections::HashMap<String, u64>>,
}

/// A stream's configuration and state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The configuration.
    pub config: StreamConfig,
    /// The state.
    #[serde(default)]
    pub state: StreamState,
    /// The other fields of the server's answer (`created`, `cluster`,
    /// `sources`, ...), as it sent them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a purge removes: all, a subject, up to a sequence, or all but the
/// newest `keep`.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::PurgeRequest;
/// let p = PurgeRequest::default().filter("orders.old").keep(10);
/// assert_eq!(p.keep, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PurgeRequest {
    /// Only this subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Up to (not including) this sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Keep the newest `keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
}

impl PurgeRequest {
    /// Only this subject.
    pub fn filter(mut self, subject: impl Into<String>) -> Self {
        self.filter = Some(subject.into());
        self
    }
    /// Up to (not including) this sequence.
    pub fn up_to(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }
    /// Keep the newest `n`.
    pub fn keep(mut self, n: u64) -> Self {
        self.keep = Some(n);
        self
    }
}

/// A message read back from a stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// Its subject.
    pub subject: String,
    /// Its stream sequence.
    pub seq: u64,
    /// Its headers.
    pub headers: Option<HeaderMap>,
    /// Its payload.
    pub payload: Bytes,
    /// When it was stored (RFC 3339, as the server says it).
    pub time: String,
}

#[derive(Deserialize)]
struct RawStored {
    subject: String,
    seq: u64,
    #[serde(default)]
    hdrs: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    time: String,
}

#[derive(Deserialize)]
struct GetReply {
    message: RawStored,
}

#[derive(Deserialize)]
struct SuccessReply {
    #[serde(default)]
    success: bool,
}

#[derive(Deserialize)]
struct PurgeReply {
    #[serde(default)]
    purged: u64,
}

fn b64(s: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Protocol,
                format!("bad base64 in a stored message: {e}"),
            )
        })
}

fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains(['.', '*', '>', ' ', '\t', '/', '\\']) {
        return Err(Error::with_source(
            ErrorKind::InvalidArgument,
            format!(
                "invalid stream name {name:?}: no '.', '*', '>', whitespace or path separators"
            ),
        ));
    }
    Ok(())
}

impl Context {
    /// Creates a stream (an existing identical one is fine).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a bad name; the API's (a name in use with
    /// another configuration is `err_code` 10058).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::StreamConfig;
    /// let info = js.create_stream(StreamConfig::new("EVENTS", ["events.>"])).await?;
    /// assert_eq!(info.state.messages, 0);
    /// # Ok(()) }
    /// ```
    pub async fn create_stream(&self, config: StreamConfig) -> Result<StreamInfo, Error> {
        validate_name(&config.name)?;
        self.request(&format!("STREAM.CREATE.{}", config.name), &config)
            .await
    }

    /// Updates a stream's configuration.
    ///
    /// # Errors
    ///
    /// As [`Context::create_stream`]; `err_code` 10059 when it does not
    /// exist.
    pub async fn update_stream(&self, config: StreamConfig) -> Result<StreamInfo, Error> {
        validate_name(&config.name)?;
        self.request(&format!("STREAM.UPDATE.{}", config.name), &config)
            .await
    }

    /// Deletes a stream and its messages.
    ///
    /// # Errors
    ///
    /// `err_code` 10059 when it does not exist.
    pub async fn delete_stream(&self, name: &str) -> Result<(), Error> {
        validate_name(name)?;
        let r: SuccessReply = self
            .request_raw(&format!("STREAM.DELETE.{name}"), Bytes::new())
            .await?;
        if !r.success {
            return Err(Error::with_source(
                ErrorKind::JetStream,
                "stream delete not confirmed",
            ));
        }
        Ok(())
    }

    /// A stream's configuration and state.
    ///
    /// # Errors
    ///
    /// `err_code` 10059 when it does not exist.
    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo, Error> {
        validate_name(name)?;
        self.request_raw(&format!("STREAM.INFO.{name}"), Bytes::new())
            .await
    }

    /// A stream's info with the message count of each subject matching
    /// `filter` (`>` for all).
    ///
    /// # Errors
    ///
    /// As [`Context::stream_info`].
    pub async fn stream_info_with_subjects(
        &self,
        name: &str,
        filter: &str,
    ) -> Result<StreamInfo, Error> {
        validate_name(name)?;
        self.request(
            &format!("STREAM.INFO.{name}"),
            &serde_json::json!({ "subjects_filter": filter }),
        )
        .await
    }

    /// The names of every stream (paged until done), optionally only
    /// those capturing `subject`.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn stream_names(&self, subject: Option<&str>) -> Result<Vec<String>, Error> {
        let filter = match subject {
            Some(s) => serde_json::json!({ "subject": s }),
            None => serde_json::Value::Null,
        };
        self.paged("STREAM.NAMES", "streams", filter).await
    }

    /// Every stream's info (paged until done).
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        self.paged("STREAM.LIST", "streams", serde_json::Value::Null)
            .await
    }

    /// Purges messages; returns how many were removed.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn purge_stream(&self, name: &str, purge: PurgeRequest) -> Result<u64, Error> {
        validate_name(name)?;
        let r: PurgeReply = self
            .request(&format!("STREAM.PURGE.{name}"), &purge)
            .await?;
        Ok(r.purged)
    }

    /// The message at `seq`.
    ///
    /// # Errors
    ///
    /// `err_code` 10037 when there is none.
    pub async fn get_message(&self, stream: &str, seq: u64) -> Result<StoredMessage, Error> {
        self.get(stream, serde_json::json!({ "seq": seq })).await
    }

    /// The last message stored on `subject`.
    ///
    /// # Errors
    ///
    /// `err_code` 10037 when there is none.
    pub async fn get_last_message(
        &self,
        stream: &str,
        subject: &str,
    ) -> Result<StoredMessage, Error> {
        self.get(stream, serde_json::json!({ "last_by_subj": subject }))
            .await
    }

    async fn get(&self, stream: &str, body: serde_json::Value) -> Result<StoredMessage, Error> {
        validate_name(stream)?;
        let r: GetReply = self
            .request(&format!("STREAM.MSG.GET.{stream}"), &body)
            .await?;
        let m = r.message;
        let headers = match m.hdrs {
            Some(h) if !h.is_empty() => Some(HeaderMap::decode(&b64(&h)?)?),
            _ => None,
        };
        let payload = match m.data {
            Some(d) => Bytes::from(b64(&d)?),
            None => Bytes::new(),
        };
        Ok(StoredMessage {
            subject: m.subject,
            seq: m.seq,
            headers,
            payload,
            time: m.time,
        })
    }

    /// Deletes the message at `seq`: marked deleted (`no_erase`) unless
    /// `erase`, which overwrites it on disk.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn delete_message(&self, stream: &str, seq: u64, erase: bool) -> Result<(), Error> {
        validate_name(stream)?;
        let mut body = serde_json::json!({ "seq": seq });
        if !erase {
            body["no_erase"] = serde_json::json!(true);
        }
        let r: SuccessReply = self
            .request(&format!("STREAM.MSG.DELETE.{stream}"), &body)
            .await?;
        if !r.success {
            return Err(Error::with_source(
                ErrorKind::JetStream,
                "message delete not confirmed",
            ));
        }
        Ok(())
    }
}

impl Context {
    /// Direct get (ADR-31): the message at `seq`, answered by any replica
    /// (the stream needs `allow_direct`).
    ///
    /// # Errors
    ///
    /// `JetStream` with code 404 when there is none; `NoResponders` when
    /// the stream does not allow direct gets.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let m = js.direct_get("ORDERS", 1).await?;
    /// println!("{} {:?}", m.subject, m.payload);
    /// # Ok(()) }
    /// ```
    pub async fn direct_get(&self, stream: &str, seq: u64) -> Result<StoredMessage, Error> {
        self.direct(stream, None, serde_json::json!({ "seq": seq }))
            .await
    }

    /// Direct get of the last message on `subject`.
    ///
    /// # Errors
    ///
    /// As [`Context::direct_get`].
    pub async fn direct_get_last(
        &self,
        stream: &str,
        subject: &str,
    ) -> Result<StoredMessage, Error> {
        self.direct(stream, Some(subject), serde_json::Value::Null)
            .await
    }

    async fn direct(
        &self,
        stream: &str,
        last_by: Option<&str>,
        body: serde_json::Value,
    ) -> Result<StoredMessage, Error> {
        validate_name(stream)?;
        let subject = match last_by {
            Some(s) => format!("{}.DIRECT.GET.{stream}.{s}", self.prefix()),
            None => format!("{}.DIRECT.GET.{stream}", self.prefix()),
        };
        let payload = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let msg = self
            .client()
            .request_with(
                subject,
                payload,
                crate::messages::RequestOptions::default().timeout(self.timeout),
            )
            .await?;
        let headers = msg.headers.clone().unwrap_or_default();
        if let Some(code) = msg.status() {
            return Err(super::ApiError {
                code: code.as_u16(),
                err_code: 0,
                description: headers.description().unwrap_or("no message").to_string(),
            }
            .into());
        }
        let subject = headers.get("Nats-Subject").unwrap_or_default().to_string();
        let seq = headers
            .get("Nats-Sequence")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::with_source(
                    ErrorKind::Protocol,
                    "direct get reply without Nats-Sequence",
                )
            })?;
        let time = headers
            .get("Nats-Time-Stamp")
            .unwrap_or_default()
            .to_string();
        Ok(StoredMessage {
            subject,
            seq,
            headers: msg.headers.clone(),
            payload: msg.payload.clone(),
            time,
        })
    }
}
