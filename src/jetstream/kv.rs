//! The key-value store (ADR-8) on JetStream streams.
//!
//! A bucket `b` is the stream `KV_b` capturing `$KV.b.>`; key `k` is the
//! subject `$KV.b.k`; a delete is an empty message with
//! `KV-Operation: DEL`, a purge one with `KV-Operation: PURGE` and
//! `Nats-Rollup: sub`. Buckets written here read the same from nats.go,
//! nats.js or nats-py, and the other way round.
//!
//! Watches are ordered consumers: they resume across a server restart or
//! a lost consumer from the last revision delivered, without repeating or
//! skipping an entry.
//!
//! # Examples
//!
//! ```no_run
//! # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
//! use nats_actix::jetstream::kv::KvConfig;
//! let kv = js.create_kv(KvConfig::new("config").history(5)).await?;
//! let rev = kv.put("db.url", "postgres://db:5432").await?;
//! let entry = kv.get("db.url").await?;
//! assert_eq!((entry.revision, &entry.value[..]), (rev, &b"postgres://db:5432"[..]));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::Recipient;
use bytes::Bytes;
use tokio::sync::watch;

use super::message::{JsMsg, MsgInfo};
use super::ordered::{OrderedConsumer, OrderedOptions, OrderedStart};
use super::publish::PublishOptions;
use super::stream::{DiscardPolicy, StorageType, StoredMessage, StreamConfig, StreamInfo};
use super::watching::WatchSource;
use super::{ApiError, Context, bucket_error};
use crate::{Error, ErrorKind, HeaderMap};

/// The most history a bucket keeps per key.
pub const MAX_HISTORY: i64 = 64;

const OPERATION: &str = "KV-Operation";
/// How long a watch's read waits before it checks its receiver is alive.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Messages per pull of a watch.
const WATCH_BATCH: usize = 1024;
/// Bytes per pull of a watch.
const WATCH_MAX_BYTES: usize = 4 * 1024 * 1024;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A value.
    Put,
    /// A delete marker (earlier revisions stay).
    Delete,
    /// A purge marker (earlier revisions are gone).
    Purge,
}

impl Operation {
    /// `PUT`, `DEL` or `PURGE`, as the CLI and the wire say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "PUT",
            Operation::Delete => "DEL",
            Operation::Purge => "PURGE",
        }
    }

    fn of(headers: Option<&HeaderMap>) -> Operation {
        match headers.and_then(|h| h.get(OPERATION)) {
            Some("DEL") => Operation::Delete,
            Some("PURGE") => Operation::Purge,
            _ => Operation::Put,
        }
    }
}

/// One revision of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value (empty for markers and meta-only watches).
    pub value: Bytes,
    /// The revision: the stream sequence it was stored at.
    pub revision: u64,
    /// When it was stored.
    pub created: SystemTime,
    /// How many newer entries the watch had still to deliver (0 for a
    /// get).
    pub delta: u64,
    /// A value, a delete or a purge.
    pub operation: Operation,
}

impl actix::Message for Entry {
    type Result = ();
}

impl Entry {
    /// `created` in RFC 3339 with nanoseconds.
    pub fn created_rfc3339(&self) -> String {
        humantime::format_rfc3339_nanos(self.created).to_string()
    }
}

/// A bucket's configuration.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::jetstream::kv::KvConfig;
/// let c = KvConfig::new("sessions").history(3).ttl(Duration::from_secs(3600));
/// assert_eq!(c.history, 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KvConfig {
    /// The bucket's name (`A-Za-z0-9_-`).
    pub bucket: String,
    /// A description.
    pub description: Option<String>,
    /// Revisions kept per key (1..=64).
    pub history: i64,
    /// How long a value lives (zero: for ever).
    pub ttl: Duration,
    /// The largest value (-1: the server's limit).
    pub max_value_size: i64,
    /// The bucket's size bound in bytes (-1: none).
    pub max_bytes: i64,
    /// File or memory.
    pub storage: StorageType,
    /// Replicas (1..=5).
    pub replicas: i64,
    /// S2 compression on disk (nats-server 2.10+).
    pub compression: bool,
    /// Metadata (nats-server 2.10+).
    pub metadata: HashMap<String, String>,
}

impl KvConfig {
    /// A bucket keeping one revision per key, in files, on one replica.
    pub fn new(bucket: impl Into<String>) -> KvConfig {
        KvConfig {
            bucket: bucket.into(),
            description: None,
            history: 1,
            ttl: Duration::ZERO,
            max_value_size: -1,
            max_bytes: -1,
            storage: StorageType::File,
            replicas: 1,
            compression: false,
            metadata: HashMap::new(),
        }
    }
    /// Sets the revisions kept per key.
    pub fn history(mut self, n: i64) -> Self {
        self.history = n;
        self
    }
    /// Sets how long values live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Sets the largest value.
    pub fn max_value_size(mut self, n: i64) -> Self {
        self.max_value_size = n;
        self
    }
    /// Sets the bucket's size bound.
    pub fn max_bytes(mut self, n: i64) -> Self {
        self.max_bytes = n;
        self
    }
    /// Sets the storage.
    pub fn storage(mut self, s: StorageType) -> Self {
        self.storage = s;
        self
    }
    /// Sets the replicas.
    pub fn replicas(mut self, n: i64) -> Self {
        self.replicas = n;
        self
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Turns S2 compression on.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    fn stream_config(&self) -> Result<StreamConfig, Error> {
        validate_bucket(&self.bucket)?;
        if !(1..=MAX_HISTORY).contains(&self.history) {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                format!("history {} is outside 1..={MAX_HISTORY}", self.history),
            ));
        }
        let mut s = StreamConfig::new(
            format!("KV_{}", self.bucket),
            [format!("$KV.{}.>", self.bucket)],
        );
        s.description = self.description.clone();
        s.max_msgs_per_subject = self.history;
        s.max_bytes = self.max_bytes;
        s.max_age = self.ttl;
        s.max_message_size = self.max_value_size;
        s.storage = self.storage;
        s.replicas = self.replicas.max(1);
        s.discard = DiscardPolicy::New;
        s.allow_rollup_hdrs = true;
        s.deny_delete = true;
        s.allow_direct = true;
        // The server's default duplicate window is 2 minutes; a shorter
        // TTL bounds it (a window longer than max_age is refused).
        let window = Duration::from_secs(120);
        s.duplicate_window = if self.ttl > Duration::ZERO && self.ttl < window {
            self.ttl
        } else {
            window
        };
        if self.compression {
            s.extra.insert("compression".into(), "s2".into());
        }
        if !self.metadata.is_empty() {
            s.extra.insert(
                "metadata".into(),
                serde_json::to_value(&self.metadata).unwrap_or_default(),
            );
        }
        Ok(s)
    }
}

/// A bucket's state.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KvStatus {
    /// The bucket.
    pub bucket: String,
    /// Entries stored, history and markers included.
    pub values: u64,
    /// Revisions kept per key.
    pub history: i64,
    /// How long values live (zero: for ever).
    pub ttl: Duration,
    /// Bytes stored.
    pub bytes: u64,
    /// Whether the stream is compressed.
    pub compressed: bool,
    /// The backing stream's info.
    pub info: StreamInfo,
}

impl KvStatus {
    fn of(info: StreamInfo) -> KvStatus {
        let bucket = info
            .config
            .name
            .strip_prefix("KV_")
            .unwrap_or(&info.config.name)
            .to_string();
        KvStatus {
            bucket,
            values: info.state.messages,
            history: info.config.max_msgs_per_subject,
            ttl: info.config.max_age,
            bytes: info.state.bytes,
            compressed: info
                .config
                .extra
                .get("compression")
                .and_then(|c| c.as_str())
                .is_some_and(|c| c != "none"),
            info,
        }
    }

    /// Always `JetStream`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }
}

fn invalid(what: &str, name: &str) -> Error {
    Error::with_source(ErrorKind::InvalidKey, format!("invalid {what} {name:?}"))
}

/// Checks a bucket name: `A-Za-z0-9_-`, not empty.
///
/// # Errors
///
/// `InvalidKey` with the name.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::kv::validate_bucket;
/// assert!(validate_bucket("user-sessions_2").is_ok());
/// assert!(validate_bucket("a.b").is_err());
/// ```
pub fn validate_bucket(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid("bucket name", name))
    }
}

/// Checks a key: `A-Za-z0-9` and `-/_=.`, not empty, no leading,
/// trailing or double dot. With `pattern`, `*` tokens and a final `>` are
/// allowed too (watch and keys filters).
///
/// # Errors
///
/// `InvalidKey` with the key.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::kv::validate_key;
/// assert!(validate_key("db.url", false).is_ok());
/// assert!(validate_key("db.*", false).is_err());
/// assert!(validate_key("db.*", true).is_ok());
/// assert!(validate_key(".db", false).is_err());
/// ```
pub fn validate_key(key: &str, pattern: bool) -> Result<(), Error> {
    let what = if pattern { "key pattern" } else { "key" };
    if key.is_empty() || key.starts_with('.') || key.ends_with('.') || key.contains("..") {
        return Err(invalid(what, key));
    }
    let tokens: Vec<&str> = key.split('.').collect();
    let last = tokens.len() - 1;
    for (i, t) in tokens.iter().enumerate() {
        let wildcard = pattern && (*t == "*" || (*t == ">" && i == last));
        let plain = t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'='));
        if !wildcard && !plain {
            return Err(invalid(what, key));
        }
    }
    Ok(())
}

/// A bucket. Get one from [`Context::create_kv`] or [`Context::kv`];
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    js: Context,
    bucket: String,
    stream: String,
    /// `$KV.<bucket>.`: what stored subjects start with.
    prefix: String,
    /// Where writes go: the prefix, behind the API prefix when the
    /// context has a domain or a custom prefix (as nats.go does).
    write_prefix: String,
    allow_direct: bool,
}

impl Context {
    /// Creates a bucket (an identical existing one is fine).
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad name, `InvalidArgument` for a history outside
    /// 1..=64 or compression/metadata on a server before 2.10; the API's
    /// (a bucket of that name with another configuration is `err_code`
    /// 10058).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::kv::KvConfig;
    /// let kv = js.create_kv(KvConfig::new("config")).await?;
    /// kv.put("mode", "blue").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_kv(&self, config: KvConfig) -> Result<Store, Error> {
        let stream = self.gate_kv(&config).await?;
        let info = self.create_stream(stream).await?;
        Ok(self.store_of(&config.bucket, &info))
    }

    /// Updates a bucket's configuration.
    ///
    /// # Errors
    ///
    /// As [`Context::create_kv`]; `BucketNotFound` when it does not exist.
    pub async fn update_kv(&self, config: KvConfig) -> Result<Store, Error> {
        let stream = self.gate_kv(&config).await?;
        let info = self
            .update_stream(stream)
            .await
            .map_err(|e| bucket_error(e, &config.bucket))?;
        Ok(self.store_of(&config.bucket, &info))
    }

    async fn gate_kv(&self, config: &KvConfig) -> Result<StreamConfig, Error> {
        let stream = config.stream_config()?;
        if config.compression || !config.metadata.is_empty() {
            let version = self
                .client()
                .server_info()
                .await
                .map(|i| i.version.clone())
                .unwrap_or_default();
            let v = super::server_version(&version);
            if v < (2, 10, 0) {
                return Err(Error::with_source(
                    ErrorKind::InvalidArgument,
                    format!(
                        "bucket compression and metadata need nats-server >= 2.10.0, connected to {version}"
                    ),
                ));
            }
        }
        Ok(stream)
    }

    /// Opens an existing bucket.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad name; `BucketNotFound`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let kv = js.kv("config").await?;
    /// println!("{:?}", kv.get("mode").await?.value);
    /// # Ok(()) }
    /// ```
    pub async fn kv(&self, bucket: &str) -> Result<Store, Error> {
        validate_bucket(bucket)?;
        let info = self.bucket_stream("KV_", bucket).await?;
        Ok(self.store_of(bucket, &info))
    }

    /// Deletes a bucket and everything in it.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad name; `BucketNotFound`.
    pub async fn delete_kv(&self, bucket: &str) -> Result<(), Error> {
        validate_bucket(bucket)?;
        self.delete_bucket_stream("KV_", bucket).await
    }

    /// The names of every bucket.
    ///
    /// # Errors
    ///
    /// The API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// for name in js.kv_names().await? {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn kv_names(&self) -> Result<Vec<String>, Error> {
        self.bucket_names("$KV.*.>", "KV_").await
    }

    /// Every bucket's status.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn kv_statuses(&self) -> Result<Vec<KvStatus>, Error> {
        Ok(self
            .bucket_streams("KV_")
            .await?
            .into_iter()
            .map(KvStatus::of)
            .collect())
    }

    fn store_of(&self, bucket: &str, info: &StreamInfo) -> Store {
        let prefix = format!("$KV.{bucket}.");
        let write_prefix = if self.prefix() == super::DEFAULT_PREFIX {
            prefix.clone()
        } else {
            format!("{}.{prefix}", self.prefix())
        };
        Store {
            js: self.clone(),
            bucket: bucket.to_string(),
            stream: format!("KV_{bucket}"),
            prefix,
            write_prefix,
            allow_direct: info.config.allow_direct,
        }
    }
}

/// A lost race (`Nats-Expected-Last-Subject-Sequence` did not hold) is
/// the same typed error on every stream: replicated streams answer with
/// `err_code` 10164 where single-replica ones say 10071.
fn race_error(e: Error) -> Error {
    match ApiError::of(&e) {
        Some(a) if a.err_code == ApiError::WRONG_LAST_SEQUENCE_CLUSTERED => ApiError {
            code: a.code,
            err_code: ApiError::WRONG_LAST_SEQUENCE,
            description: a.description.clone(),
        }
        .into(),
        _ => e,
    }
}

fn is_race(e: &Error) -> bool {
    ApiError::of(e).is_some_and(|a| a.err_code == ApiError::WRONG_LAST_SEQUENCE)
}

fn not_found(bucket: &str, key: &str) -> Error {
    Error::with_source(
        ErrorKind::KeyNotFound,
        format!("key {key:?} in bucket {bucket:?}"),
    )
}

fn time_of(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

impl Store {
    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The backing stream's name (`KV_<bucket>`).
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The bucket's state.
    ///
    /// # Errors
    ///
    /// `BucketNotFound`; the API's.
    pub async fn status(&self) -> Result<KvStatus, Error> {
        let info = self
            .js
            .stream_info(&self.stream)
            .await
            .map_err(|e| bucket_error(e, &self.bucket))?;
        Ok(KvStatus::of(info))
    }

    fn entry_of(&self, m: StoredMessage) -> Entry {
        let key = m
            .subject
            .strip_prefix(&self.prefix)
            .unwrap_or(&m.subject)
            .to_string();
        let created = humantime::parse_rfc3339_weak(&m.time).unwrap_or(UNIX_EPOCH);
        Entry {
            bucket: self.bucket.clone(),
            key,
            operation: Operation::of(m.headers.as_ref()),
            value: m.payload,
            revision: m.seq,
            created,
            delta: 0,
        }
    }

    /// The entry on `key` at `revision` (or the latest), markers included.
    async fn raw_entry(&self, key: &str, revision: Option<u64>) -> Result<Option<Entry>, Error> {
        validate_key(key, false)?;
        let subject = format!("{}{key}", self.prefix);
        let got = match (revision, self.allow_direct) {
            (None, true) => self.js.direct_get_last(&self.stream, &subject).await,
            (None, false) => self.js.get_last_message(&self.stream, &subject).await,
            (Some(r), true) => self.js.direct_get(&self.stream, r).await,
            (Some(r), false) => self.js.get_message(&self.stream, r).await,
        };
        match got {
            Ok(m) if m.subject == subject => Ok(Some(self.entry_of(m))),
            Ok(_) => Ok(None),
            Err(e) => {
                super::bucket_get_failed(&self.js, &self.stream, &self.bucket, self.allow_direct, e)
                    .await
                    .map(|()| None)
            }
        }
    }

    /// The latest value of `key`.
    ///
    /// # Errors
    ///
    /// `KeyNotFound` when it has none or was deleted or purged;
    /// `InvalidKey`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(kv: nats_actix::jetstream::kv::Store) -> nats_actix::Result<()> {
    /// use nats_actix::ErrorKind;
    /// match kv.get("feature.flag").await {
    ///     Ok(e) => println!("rev {}: {:?}", e.revision, e.value),
    ///     Err(e) if e.kind() == ErrorKind::KeyNotFound => println!("unset"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: &str) -> Result<Entry, Error> {
        match self.raw_entry(key, None).await? {
            Some(e) if e.operation == Operation::Put => Ok(e),
            _ => Err(not_found(&self.bucket, key)),
        }
    }

    /// The value of `key` at `revision`.
    ///
    /// # Errors
    ///
    /// `KeyNotFound` when that revision is not a value of this key (it
    /// belongs to another key, is a marker, or is gone).
    pub async fn get_revision(&self, key: &str, revision: u64) -> Result<Entry, Error> {
        match self.raw_entry(key, Some(revision)).await? {
            Some(e) if e.operation == Operation::Put => Ok(e),
            _ => Err(not_found(&self.bucket, key)),
        }
    }

    async fn write(&self, key: &str, value: Bytes, options: PublishOptions) -> Result<u64, Error> {
        validate_key(key, false)?;
        let subject = format!("{}{key}", self.write_prefix);
        self.js
            .publish_with(subject, value, options)
            .await
            .map(|ack| ack.seq)
            .map_err(race_error)
    }

    /// Stores a value; returns its revision.
    ///
    /// # Errors
    ///
    /// `InvalidKey`; the publish's (`MaxPayloadExceeded`, a value over the
    /// bucket's `max_value_size`, ...).
    pub async fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, Error> {
        self.write(key, value.into(), PublishOptions::default())
            .await
    }

    /// Stores a value only if `key` holds none (a deleted or purged key
    /// holds none); returns its revision.
    ///
    /// # Errors
    ///
    /// `KeyExists` when it holds a value; `JetStream` with
    /// [`ApiError::WRONG_LAST_SEQUENCE`] when another writer got in
    /// between.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(kv: nats_actix::jetstream::kv::Store) -> nats_actix::Result<()> {
    /// use nats_actix::ErrorKind;
    /// kv.create("lock", "me").await?;
    /// assert_eq!(kv.create("lock", "you").await.unwrap_err().kind(), ErrorKind::KeyExists);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, Error> {
        let value = value.into();
        match self.update(key, value.clone(), 0).await {
            Ok(rev) => Ok(rev),
            Err(e) if is_race(&e) => match self.raw_entry(key, None).await? {
                Some(marker) if marker.operation != Operation::Put => {
                    self.update(key, value, marker.revision).await
                }
                Some(existing) => Err(Error::with_source(
                    ErrorKind::KeyExists,
                    format!(
                        "key {key:?} in bucket {:?} holds revision {}",
                        self.bucket, existing.revision
                    ),
                )),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Stores a value only if the latest revision of `key` is `revision`
    /// (0: the key never held anything); returns the new revision.
    ///
    /// # Errors
    ///
    /// `JetStream` with [`ApiError::WRONG_LAST_SEQUENCE`] when it is not,
    /// on single-replica and replicated buckets alike.
    pub async fn update(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        revision: u64,
    ) -> Result<u64, Error> {
        let opts = PublishOptions::default().expected_last_subject_sequence(revision);
        self.write(key, value.into(), opts).await
    }

    fn marker(operation: Operation, revision: Option<u64>) -> PublishOptions {
        let mut h = HeaderMap::new();
        h.insert(OPERATION, operation.as_str());
        if operation == Operation::Purge {
            h.insert("Nats-Rollup", "sub");
        }
        let mut opts = PublishOptions::default().headers(h);
        if let Some(r) = revision {
            opts = opts.expected_last_subject_sequence(r);
        }
        opts
    }

    /// Deletes `key`: a delete marker; earlier revisions stay in the
    /// history.
    ///
    /// # Errors
    ///
    /// `InvalidKey`; the publish's.
    pub async fn delete(&self, key: &str) -> Result<u64, Error> {
        self.write(key, Bytes::new(), Self::marker(Operation::Delete, None))
            .await
    }

    /// [`Store::delete`] only if the latest revision is `revision`.
    ///
    /// # Errors
    ///
    /// As [`Store::update`].
    pub async fn delete_expect(&self, key: &str, revision: u64) -> Result<u64, Error> {
        self.write(
            key,
            Bytes::new(),
            Self::marker(Operation::Delete, Some(revision)),
        )
        .await
    }

    /// Purges `key`: a purge marker that rolls up (removes) every earlier
    /// revision.
    ///
    /// # Errors
    ///
    /// `InvalidKey`; the publish's.
    pub async fn purge(&self, key: &str) -> Result<u64, Error> {
        self.write(key, Bytes::new(), Self::marker(Operation::Purge, None))
            .await
    }

    /// [`Store::purge`] only if the latest revision is `revision`.
    ///
    /// # Errors
    ///
    /// As [`Store::update`].
    pub async fn purge_expect(&self, key: &str, revision: u64) -> Result<u64, Error> {
        self.write(
            key,
            Bytes::new(),
            Self::marker(Operation::Purge, Some(revision)),
        )
        .await
    }

    /// Every key holding a value.
    ///
    /// # Errors
    ///
    /// The API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(kv: nats_actix::jetstream::kv::Store) -> nats_actix::Result<()> {
    /// let keys = kv.keys().await?;
    /// let only_db = kv.keys_filtered(&["db.>"]).await?;
    /// assert!(only_db.len() <= keys.len());
    /// # Ok(()) }
    /// ```
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.keys_filtered(&[">"]).await
    }

    /// The keys holding a value that match any of `filters` (several
    /// need nats-server 2.10).
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad filter; the API's.
    pub async fn keys_filtered(&self, filters: &[&str]) -> Result<Vec<String>, Error> {
        let opts = WatchOptions::new().ignore_deletes(true).meta_only(true);
        let mut w = self.watcher(filters, opts).await?;
        Ok(w.initial().await?.into_iter().map(|e| e.key).collect())
    }

    /// Every revision of `key` still kept, oldest first, markers
    /// included.
    ///
    /// # Errors
    ///
    /// `KeyNotFound` when there is none.
    pub async fn history(&self, key: &str) -> Result<Vec<Entry>, Error> {
        validate_key(key, false)?;
        let opts = WatchOptions::new().include_history(true);
        let mut w = self.watcher(&[key], opts).await?;
        let out = w.initial().await?;
        if out.is_empty() {
            return Err(not_found(&self.bucket, key));
        }
        Ok(out)
    }

    /// Removes old delete and purge markers: those older than
    /// `older_than` (30 minutes when `None`) go entirely, younger ones
    /// are kept alone (their key's earlier revisions go). Returns how
    /// many keys were cleaned.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn purge_deletes(&self, older_than: Option<Duration>) -> Result<usize, Error> {
        let threshold = older_than.unwrap_or(Duration::from_secs(30 * 60));
        let opts = WatchOptions::new().meta_only(true);
        let mut w = self.watcher(&[">"], opts).await?;
        let markers: Vec<Entry> = w
            .initial()
            .await?
            .into_iter()
            .filter(|e| e.operation != Operation::Put)
            .collect();
        let now = SystemTime::now();
        for m in &markers {
            let old = now
                .duration_since(m.created)
                .is_ok_and(|age| age >= threshold);
            let mut req =
                super::stream::PurgeRequest::default().filter(format!("{}{}", self.prefix, m.key));
            if !old {
                req = req.keep(1);
            }
            self.js.purge_stream(&self.stream, req).await?;
        }
        Ok(markers.len())
    }

    /// Watches the keys matching `pattern` (`*` and `>` allowed): the
    /// latest entry of each, then [`WatchEvent::Ready`], then every
    /// change. See [`Store::watch_with`] for the options.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad pattern; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(kv: nats_actix::jetstream::kv::Store) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::kv::WatchEvent;
    /// let mut watch = kv.watch("db.>").await?;
    /// while let Some(event) = watch.next().await {
    ///     match event? {
    ///         WatchEvent::Entry(e) => println!("{} = {:?} ({})", e.key, e.value, e.operation.as_str()),
    ///         WatchEvent::Ready => println!("-- up to date --"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn watch(&self, pattern: &str) -> Result<KvWatch, Error> {
        self.watch_with(&[pattern], WatchOptions::new()).await
    }

    /// Watches every key.
    ///
    /// # Errors
    ///
    /// The API's.
    pub async fn watch_all(&self) -> Result<KvWatch, Error> {
        self.watch_with(&[">"], WatchOptions::new()).await
    }

    /// Watches the keys matching any of `patterns` (several need
    /// nats-server 2.10) with options: include history, ignore deletes,
    /// meta only, updates only, resume from a revision.
    ///
    /// The watch runs until the [`KvWatch`] is dropped. It never stops
    /// by itself: across a server restart or a lost consumer it resumes
    /// after the last revision it delivered; an error it cannot get past
    /// (the bucket was deleted) is yielded, reported as an
    /// [`Event::Error`](crate::Event::Error), and retried every second.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad pattern; the API's for the first consumer.
    pub async fn watch_with(
        &self,
        patterns: &[&str],
        opts: WatchOptions,
    ) -> Result<KvWatch, Error> {
        let w = self.watcher(patterns, opts).await?;
        Ok(KvWatch::spawn(w, 256))
    }

    /// Delivers a watch into an actor: every [`Entry`] is sent to
    /// `recipient` (one at a time: the next is sent when the handler is
    /// done, so a slow actor slows the watch, never loses entries). The
    /// end of the initial data is [`WatchHandle::ready`]. The watch stops
    /// when the actor stops or the handle's `stop` is called.
    ///
    /// # Errors
    ///
    /// As [`Store::watch_with`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(kv: nats_actix::jetstream::kv::Store, actor: actix::Recipient<nats_actix::jetstream::kv::Entry>) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::kv::WatchOptions;
    /// let mut handle = kv.watch_into(&["config.>"], WatchOptions::new(), actor).await?;
    /// handle.ready().await; // the actor has seen every current value
    /// # Ok(()) }
    /// ```
    pub async fn watch_into(
        &self,
        patterns: &[&str],
        opts: WatchOptions,
        recipient: Recipient<Entry>,
    ) -> Result<WatchHandle, Error> {
        let w = self.watcher(patterns, opts).await?;
        let (ready_tx, ready_rx) = watch::channel(false);
        let probe = recipient.clone();
        let task = actix::spawn(async move {
            super::watching::run_watch(
                w,
                |item| {
                    let recipient = recipient.clone();
                    let ready_tx = ready_tx.clone();
                    async move {
                        match item {
                            Ok(WatchEvent::Entry(e)) => recipient.send(e).await.is_ok(),
                            Ok(WatchEvent::Ready) => {
                                let _ = ready_tx.send(true);
                                true
                            }
                            // Reported as an event by run_watch.
                            Err(_) => recipient.connected(),
                        }
                    }
                },
                move || probe.connected(),
            )
            .await;
        });
        Ok(WatchHandle {
            ready: ready_rx,
            task,
        })
    }

    async fn watcher(&self, patterns: &[&str], opts: WatchOptions) -> Result<Watcher, Error> {
        // Pulls of 1,024 (at most 4 MiB): a watch reads a whole bucket
        // before its ready marker, so bigger pulls mean fewer round trips.
        let mut ordered = OrderedOptions::new()
            .batch(WATCH_BATCH)
            .max_bytes(WATCH_MAX_BYTES)
            .headers_only(opts.meta_only)
            .heartbeat(opts.heartbeat);
        for p in patterns {
            validate_key(p, true)?;
            ordered = ordered.filter(format!("{}{p}", self.prefix));
        }
        ordered = ordered.start(if let Some(rev) = opts.from_revision {
            OrderedStart::Sequence(rev)
        } else if opts.updates_only {
            OrderedStart::New
        } else if opts.include_history {
            OrderedStart::All
        } else {
            OrderedStart::LastPerSubject
        });
        let mut consumer = self.js.ordered_with(&self.stream, ordered);
        consumer
            .start()
            .await
            .map_err(|e| bucket_error(e, &self.bucket))?;
        let ready_now = opts.updates_only || consumer.pending() == 0;
        Ok(Watcher {
            store: self.clone(),
            consumer,
            opts,
            ready_due: ready_now,
            ready_sent: false,
        })
    }
}

/// How a watch reads. See [`Store::watch_with`].
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::kv::WatchOptions;
/// let o = WatchOptions::new().include_history(true).ignore_deletes(true);
/// assert!(o.include_history && o.ignore_deletes && !o.meta_only);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Every kept revision first, not only the latest.
    pub include_history: bool,
    /// No delete and purge markers.
    pub ignore_deletes: bool,
    /// Keys, revisions and operations without values.
    pub meta_only: bool,
    /// Only changes made after the watch starts.
    pub updates_only: bool,
    /// Start at this revision (resume a watch of your own).
    pub from_revision: Option<u64>,
    /// The idle heartbeat (5 s): two missed ones recreate the consumer.
    pub heartbeat: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            include_history: false,
            ignore_deletes: false,
            meta_only: false,
            updates_only: false,
            from_revision: None,
            heartbeat: Duration::from_secs(5),
        }
    }
}

impl WatchOptions {
    /// The latest entry of each key, then changes.
    pub fn new() -> WatchOptions {
        WatchOptions::default()
    }
    /// Sets include-history.
    pub fn include_history(mut self, on: bool) -> Self {
        self.include_history = on;
        self
    }
    /// Sets ignore-deletes.
    pub fn ignore_deletes(mut self, on: bool) -> Self {
        self.ignore_deletes = on;
        self
    }
    /// Sets meta-only.
    pub fn meta_only(mut self, on: bool) -> Self {
        self.meta_only = on;
        self
    }
    /// Sets updates-only.
    pub fn updates_only(mut self, on: bool) -> Self {
        self.updates_only = on;
        self
    }
    /// Starts at `revision`.
    pub fn from_revision(mut self, revision: u64) -> Self {
        self.from_revision = Some(revision);
        self
    }
    /// Sets the idle heartbeat.
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = d;
        self
    }
}

/// What a watch yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// An entry.
    Entry(Entry),
    /// The initial data has all been delivered (once per watch).
    Ready,
}

/// The pull side of a watch, shared by watches, keys and history.
#[derive(Debug)]
struct Watcher {
    store: Store,
    consumer: OrderedConsumer,
    opts: WatchOptions,
    ready_due: bool,
    ready_sent: bool,
}

impl Watcher {
    fn entry(&self, m: &JsMsg, info: &MsgInfo) -> Entry {
        let key = m
            .subject()
            .strip_prefix(&self.store.prefix)
            .unwrap_or(m.subject())
            .to_string();
        Entry {
            bucket: self.store.bucket.clone(),
            key,
            value: m.payload().clone(),
            revision: info.stream_seq,
            created: time_of(info.timestamp_ns),
            delta: info.pending,
            operation: Operation::of(m.msg.headers.as_ref()),
        }
    }
}

impl super::watching::WatchSource for Watcher {
    type Event = WatchEvent;

    fn what(&self) -> String {
        format!("kv watch on {}", self.store.bucket)
    }

    fn client(&self) -> &crate::Client {
        self.store.js.client()
    }

    /// The next entry or the ready marker; `None` after a second without
    /// either.
    async fn next_event(&mut self) -> Result<Option<WatchEvent>, Error> {
        loop {
            if self.ready_due && !self.ready_sent {
                self.ready_sent = true;
                return Ok(Some(WatchEvent::Ready));
            }
            let Some((m, info)) = self.consumer.next_with_info(IDLE_WAIT).await? else {
                return Ok(None);
            };
            let entry = self.entry(&m, &info);
            if !self.ready_sent && entry.delta == 0 {
                self.ready_due = true;
            }
            if self.opts.ignore_deletes && entry.operation != Operation::Put {
                continue;
            }
            return Ok(Some(WatchEvent::Entry(entry)));
        }
    }
}

impl Watcher {
    /// Entries up to the end of the initial data.
    async fn initial(&mut self) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        loop {
            match self.next_event().await? {
                Some(WatchEvent::Entry(e)) => out.push(e),
                Some(WatchEvent::Ready) => return Ok(out),
                None => {}
            }
        }
    }
}

/// A running watch of a bucket: a `Stream` of [`WatchEvent`]s (or
/// errors, after which it goes on). Dropping it stops the watch and
/// deletes its consumer. See [`Watch`](super::Watch).
pub type KvWatch = super::Watch<WatchEvent>;

/// A watch delivering into an actor. See [`Store::watch_into`].
#[derive(Debug)]
pub struct WatchHandle {
    ready: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WatchHandle {
    /// Resolves once the actor has been sent every initial value.
    pub async fn ready(&mut self) {
        let _ = self.ready.wait_for(|r| *r).await;
    }

    /// Whether the initial data has been delivered.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Stops the watch (it also stops when the actor stops). Dropping the
    /// handle leaves the watch running.
    pub fn stop(self) {
        self.task.abort();
    }
}
