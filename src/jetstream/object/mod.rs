//! The object store (ADR-20) on JetStream streams.
//!
//! A bucket `b` is the stream `OBJ_b` capturing `$O.b.C.>` (chunks) and
//! `$O.b.M.>` (meta). An object is its chunks, published to
//! `$O.b.C.<nuid>`, and one meta message (JSON, rolled up with
//! `Nats-Rollup: sub`) on `$O.b.M.<base64url(name)>` that names the nuid,
//! the size, the chunk count and the digest `SHA-256=<base64url>`. Buckets
//! written here read the same from nats.go, nats.js, nats-py or async-nats,
//! and the other way round.
//!
//! ```text
//! OBJ_b  ── $O.b.C.<nuid>            chunk 1 … chunk n (128 KiB by default)
//!        └─ $O.b.M.<base64url(name)>  {"name","nuid","size","chunks","digest",…}
//! ```
//!
//! Puts and gets stream: a put reads one chunk at a time and keeps a
//! window of acks in flight; a get is an [`ObjectReader`] fed by a push
//! consumer (objects of at most one window) or the ordered pull consumer
//! with a bounded pull (larger ones), verifying the digest before it
//! yields the last chunk. Memory stays within a few chunk windows however
//! large the object is.
//!
//! # Examples
//!
//! ```no_run
//! # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
//! use nats_actix::jetstream::object::ObjectStoreConfig;
//! let store = js.create_object_store(ObjectStoreConfig::new("files")).await?;
//! let info = store.put("hello.txt", &b"hello world"[..]).await?;
//! let data = store.get("hello.txt").await?.read_all().await?;
//! assert_eq!((&data[..], info.size), (&b"hello world"[..], 11));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Context;
pub(crate) use super::bucket_error;
use super::publish::PublishOptions;
use super::stream::{DiscardPolicy, PurgeRequest, StorageType, StreamConfig, StreamInfo};
use crate::{Error, ErrorKind, HeaderMap};

mod get;
mod put;
mod watch;

pub use get::ObjectReader;
pub use watch::{ObjectWatch, WatchEvent, WatchOptions};

/// The chunk size when none is given: 128 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 128 * 1024;

/// The bytes of chunks a put keeps unacknowledged, and a get asks the
/// server for ahead of the reader: 4 MiB.
pub const DEFAULT_WINDOW: usize = 4 << 20;

/// A bucket's configuration.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::jetstream::object::ObjectStoreConfig;
/// let c = ObjectStoreConfig::new("files").ttl(Duration::from_secs(3600)).description("uploads");
/// assert_eq!(c.bucket, "files");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ObjectStoreConfig {
    /// The bucket's name (`A-Za-z0-9_-`).
    pub bucket: String,
    /// A description.
    pub description: Option<String>,
    /// How long objects live (zero: for ever).
    pub ttl: Duration,
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

impl ObjectStoreConfig {
    /// A bucket in files, on one replica, with no limits.
    pub fn new(bucket: impl Into<String>) -> ObjectStoreConfig {
        ObjectStoreConfig {
            bucket: bucket.into(),
            description: None,
            ttl: Duration::ZERO,
            max_bytes: -1,
            storage: StorageType::File,
            replicas: 1,
            compression: false,
            metadata: HashMap::new(),
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Sets how long objects live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
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
    /// Turns S2 compression on (nats-server 2.10+).
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }
    /// Adds a metadata entry (nats-server 2.10+).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    fn stream_config(&self) -> Result<StreamConfig, Error> {
        validate_bucket(&self.bucket)?;
        let b = &self.bucket;
        let mut s = StreamConfig::new(
            format!("OBJ_{b}"),
            [format!("$O.{b}.C.>"), format!("$O.{b}.M.>")],
        );
        s.description = self.description.clone();
        s.max_age = self.ttl;
        s.max_bytes = self.max_bytes;
        s.storage = self.storage;
        s.replicas = self.replicas.max(1);
        s.discard = DiscardPolicy::New;
        s.allow_rollup_hdrs = true;
        s.allow_direct = true;
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
pub struct ObjectStoreStatus {
    /// The bucket.
    pub bucket: String,
    /// Its description.
    pub description: Option<String>,
    /// How long objects live (zero: for ever).
    pub ttl: Duration,
    /// File or memory.
    pub storage: StorageType,
    /// Replicas.
    pub replicas: i64,
    /// Whether it is sealed (read only).
    pub sealed: bool,
    /// Bytes stored (chunks and meta).
    pub size: u64,
    /// Whether the stream is compressed.
    pub compressed: bool,
    /// The backing stream's info.
    pub info: StreamInfo,
}

impl ObjectStoreStatus {
    fn of(info: StreamInfo) -> ObjectStoreStatus {
        let c = &info.config;
        ObjectStoreStatus {
            bucket: c.name.strip_prefix("OBJ_").unwrap_or(&c.name).to_string(),
            description: c.description.clone(),
            ttl: c.max_age,
            storage: c.storage,
            replicas: c.replicas,
            sealed: c
                .extra
                .get("sealed")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            size: info.state.bytes,
            compressed: c
                .extra
                .get("compression")
                .and_then(|v| v.as_str())
                .is_some_and(|v| v != "none"),
            info,
        }
    }

    /// Always `JetStream`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }
}

/// Where a link points: an object of a bucket, or a whole bucket (no
/// `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    /// The bucket.
    pub bucket: String,
    /// The object (none: the link is to the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `options` of an object's meta.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectMetaOptions {
    /// Set when the object is a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<ObjectLink>,
    /// The chunk size the object was written with.
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "null_default"
    )]
    pub max_chunk_size: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Other clients write `null` where we leave a field out.
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a put or a meta update says about an object.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::object::ObjectMeta;
/// let m = ObjectMeta::new("report.pdf").description("Q3").metadata("owner", "ana").chunk_size(64 * 1024);
/// assert_eq!(m.chunk_size, Some(65536));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectMeta {
    /// The object's name (any non-empty text).
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: HashMap<String, String>,
    /// Headers kept with the meta (`{name: [values]}`).
    pub headers: Option<HashMap<String, Vec<String>>>,
    /// The chunk size of a put (128 KiB by default).
    pub chunk_size: Option<usize>,
}

impl ObjectMeta {
    /// Meta with a name only.
    pub fn new(name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: name.into(),
            ..ObjectMeta::default()
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
    /// Sets the chunk size of a put.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }
}

impl From<&str> for ObjectMeta {
    fn from(name: &str) -> ObjectMeta {
        ObjectMeta::new(name)
    }
}

impl From<String> for ObjectMeta {
    fn from(name: String) -> ObjectMeta {
        ObjectMeta::new(name)
    }
}

/// An object's meta as stored (ADR-20 field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's name.
    pub name: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Headers kept with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<HashMap<String, Vec<String>>>,
    /// Its metadata.
    #[serde(
        default,
        skip_serializing_if = "HashMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub metadata: HashMap<String, String>,
    /// Link and chunk-size options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ObjectMetaOptions>,
    /// The bucket it is in.
    pub bucket: String,
    /// The id of its chunks' subject.
    #[serde(default, deserialize_with = "null_default")]
    pub nuid: String,
    /// Its size in bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub size: u64,
    /// When it was written (RFC 3339 on the wire).
    #[serde(with = "mtime")]
    pub mtime: SystemTime,
    /// How many chunks it has.
    #[serde(default, deserialize_with = "null_default")]
    pub chunks: u64,
    /// `SHA-256=<base64url>` of its bytes (empty for links and deletes).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub digest: String,
    /// Whether it was deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

impl ObjectInfo {
    /// `mtime` in RFC 3339 with nanoseconds, UTC.
    pub fn mtime_rfc3339(&self) -> String {
        humantime::format_rfc3339_nanos(self.mtime).to_string()
    }

    /// Where it links to, if it is a link.
    pub fn link(&self) -> Option<&ObjectLink> {
        self.options.as_ref().and_then(|o| o.link.as_ref())
    }

    /// Whether it is a link.
    pub fn is_link(&self) -> bool {
        self.link().is_some()
    }
}

/// `mtime` as nats.go writes it (RFC 3339, nanoseconds, UTC); read with or
/// without fractional seconds and with a `Z` or a numeric offset.
mod mtime {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_nanos(*t).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(super::parse_time(&s).unwrap_or(UNIX_EPOCH))
    }
}

/// Parses RFC 3339 with any offset (`Z`, `+02:00`), with or without a
/// fraction.
fn parse_time(s: &str) -> Option<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Some(t);
    }
    // A numeric offset: parse the local part as UTC, then shift.
    let (local, sign, off) = match s.len().checked_sub(6).map(|i| s.split_at(i)) {
        Some((l, o)) if o.starts_with(['+', '-']) && o.as_bytes().get(3) == Some(&b':') => {
            (l, if o.starts_with('-') { -1i64 } else { 1 }, &o[1..])
        }
        _ => return None,
    };
    let h: i64 = off.get(..2)?.parse().ok()?;
    let m: i64 = off.get(3..)?.parse().ok()?;
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(((h * 60 + m) * 60).unsigned_abs());
    if sign > 0 {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
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
/// use nats_actix::jetstream::object::validate_bucket;
/// assert!(validate_bucket("files_2").is_ok());
/// assert!(validate_bucket("a.b").is_err());
/// ```
pub fn validate_bucket(name: &str) -> Result<(), Error> {
    super::kv::validate_bucket(name).map_err(|_| invalid("bucket name", name))
}

/// Checks an object name: any text that is not empty.
///
/// # Errors
///
/// `InvalidKey`.
///
/// # Examples
///
/// ```
/// use nats_actix::jetstream::object::validate_name;
/// assert!(validate_name("photos/2024 cat.jpg").is_ok());
/// assert!(validate_name("").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        Err(invalid("object name", name))
    } else {
        Ok(())
    }
}

/// `SHA-256=<base64url>`, as ADR-20 writes a digest.
pub(crate) fn digest_string(hash: &[u8]) -> String {
    format!("SHA-256={}", URL_SAFE.encode(hash))
}

/// The hash in a `SHA-256=` digest (padded or not).
pub(crate) fn digest_bytes(digest: &str) -> Option<Vec<u8>> {
    let b64 = digest.strip_prefix("SHA-256=")?;
    URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()
}

/// A bucket. Get one from [`Context::create_object_store`] or
/// [`Context::object_store`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(crate) js: Context,
    pub(crate) bucket: String,
    pub(crate) stream: String,
    pub(crate) allow_direct: bool,
    pub(crate) window: usize,
}

impl Context {
    /// Creates a bucket (an identical existing one is fine).
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad name; `InvalidArgument` for compression or
    /// metadata on a server before 2.10; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::object::ObjectStoreConfig;
    /// let store = js.create_object_store(ObjectStoreConfig::new("files")).await?;
    /// store.put("a.txt", &b"A"[..]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_object_store(
        &self,
        config: ObjectStoreConfig,
    ) -> Result<ObjectStore, Error> {
        let stream = config.stream_config()?;
        if config.compression || !config.metadata.is_empty() {
            let version = self
                .client()
                .server_info()
                .await
                .map(|i| i.version.clone())
                .unwrap_or_default();
            if super::server_version(&version) < (2, 10, 0) {
                return Err(Error::with_source(
                    ErrorKind::InvalidArgument,
                    format!(
                        "bucket compression and metadata need nats-server >= 2.10.0, connected to {version}"
                    ),
                ));
            }
        }
        let info = self.create_stream(stream).await?;
        Ok(self.object_store_of(&config.bucket, &info))
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
    /// let store = js.object_store("files").await?;
    /// println!("{} bytes", store.status().await?.size);
    /// # Ok(()) }
    /// ```
    pub async fn object_store(&self, bucket: &str) -> Result<ObjectStore, Error> {
        validate_bucket(bucket)?;
        let info = self.bucket_stream("OBJ_", bucket).await?;
        Ok(self.object_store_of(bucket, &info))
    }

    /// Deletes a bucket and every object in it.
    ///
    /// # Errors
    ///
    /// `InvalidKey` for a bad name; `BucketNotFound`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// js.delete_object_store("scratch").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_object_store(&self, bucket: &str) -> Result<(), Error> {
        validate_bucket(bucket)?;
        self.delete_bucket_stream("OBJ_", bucket).await
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
    /// for name in js.object_store_names().await? {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn object_store_names(&self) -> Result<Vec<String>, Error> {
        self.bucket_names("$O.*.C.>", "OBJ_").await
    }

    /// Every bucket's status.
    ///
    /// # Errors
    ///
    /// The API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// for s in js.object_store_statuses().await? {
    ///     println!("{}: {} bytes, sealed {}", s.bucket, s.size, s.sealed);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn object_store_statuses(&self) -> Result<Vec<ObjectStoreStatus>, Error> {
        Ok(self
            .bucket_streams("OBJ_")
            .await?
            .into_iter()
            .map(ObjectStoreStatus::of)
            .collect())
    }

    fn object_store_of(&self, bucket: &str, info: &StreamInfo) -> ObjectStore {
        ObjectStore {
            js: self.clone(),
            bucket: bucket.to_string(),
            stream: format!("OBJ_{bucket}"),
            allow_direct: info.config.allow_direct,
            window: DEFAULT_WINDOW,
        }
    }
}

fn not_found(bucket: &str, name: &str) -> Error {
    Error::with_source(
        ErrorKind::ObjectNotFound,
        format!("object {name:?} in bucket {bucket:?}"),
    )
}

impl ObjectStore {
    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The backing stream's name (`OBJ_<bucket>`).
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// Sets the bytes of chunks kept in flight by a put and asked ahead
    /// by a get ([`DEFAULT_WINDOW`]); it bounds the memory either holds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let store = js.object_store("files").await?.window(1 << 20);
    /// # Ok(()) }
    /// ```
    pub fn window(mut self, bytes: usize) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// `$O.<bucket>.C.<nuid>`.
    pub(crate) fn chunk_subject(&self, nuid: &str) -> String {
        format!("$O.{}.C.{nuid}", self.bucket)
    }

    /// `$O.<bucket>.M.<base64url(name)>`.
    pub(crate) fn meta_subject(&self, name: &str) -> String {
        format!("$O.{}.M.{}", self.bucket, URL_SAFE.encode(name))
    }

    /// The bucket's state.
    ///
    /// # Errors
    ///
    /// `BucketNotFound`; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// let s = store.status().await?;
    /// println!("{} bytes in {} ({})", s.size, s.bucket, s.backing_store());
    /// # Ok(()) }
    /// ```
    pub async fn status(&self) -> Result<ObjectStoreStatus, Error> {
        let info = self
            .js
            .stream_info(&self.stream)
            .await
            .map_err(|e| bucket_error(e, &self.bucket))?;
        Ok(ObjectStoreStatus::of(info))
    }

    /// Seals the bucket: no more writes or deletes.
    ///
    /// # Errors
    ///
    /// `BucketNotFound`; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// assert!(store.seal().await?.sealed);
    /// # Ok(()) }
    /// ```
    pub async fn seal(&self) -> Result<ObjectStoreStatus, Error> {
        let mut info = self
            .js
            .stream_info(&self.stream)
            .await
            .map_err(|e| bucket_error(e, &self.bucket))?;
        info.config.extra.insert("sealed".into(), true.into());
        let info = self.js.update_stream(info.config).await?;
        Ok(ObjectStoreStatus::of(info))
    }

    /// The stored meta of `name`, deleted or not; `None` when there is
    /// none.
    pub(crate) async fn raw_info(&self, name: &str) -> Result<Option<ObjectInfo>, Error> {
        validate_name(name)?;
        let subject = self.meta_subject(name);
        let got = if self.allow_direct {
            self.js.direct_get_last(&self.stream, &subject).await
        } else {
            self.js.get_last_message(&self.stream, &subject).await
        };
        match got {
            Ok(m) => {
                let info: ObjectInfo = serde_json::from_slice(&m.payload).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Protocol,
                        format!("bad object meta for {name:?}: {e}"),
                    )
                })?;
                Ok(Some(info))
            }
            Err(e) => crate::jetstream::bucket_get_failed(
                &self.js,
                &self.stream,
                &self.bucket,
                self.allow_direct,
                e,
            )
            .await
            .map(|()| None),
        }
    }

    /// The info of object `name`.
    ///
    /// # Errors
    ///
    /// `ObjectNotFound` when there is none or it was deleted;
    /// `InvalidKey` for an empty name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// let info = store.info("report.pdf").await?;
    /// println!("{} bytes in {} chunks, {}", info.size, info.chunks, info.digest);
    /// # Ok(()) }
    /// ```
    pub async fn info(&self, name: &str) -> Result<ObjectInfo, Error> {
        match self.raw_info(name).await? {
            Some(i) if !i.deleted => Ok(i),
            _ => Err(not_found(&self.bucket, name)),
        }
    }

    async fn publish_meta(&self, info: &ObjectInfo) -> Result<(), Error> {
        let body = serde_json::to_vec(info).map_err(|e| {
            Error::with_source(ErrorKind::InvalidArgument, format!("object meta: {e}"))
        })?;
        let mut h = HeaderMap::new();
        h.insert("Nats-Rollup", "sub");
        self.js
            .publish_with(
                self.meta_subject(&info.name),
                body,
                PublishOptions::default().headers(h),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn purge_chunks(&self, nuid: &str) -> Result<(), Error> {
        self.js
            .purge_stream(
                &self.stream,
                PurgeRequest::default().filter(self.chunk_subject(nuid)),
            )
            .await
            .map(|_| ())
    }

    /// Deletes object `name`: its meta becomes a delete marker and its
    /// chunks are purged.
    ///
    /// # Errors
    ///
    /// `ObjectNotFound`; the API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// store.delete("old.log").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let mut info = self.info(name).await?;
        let nuid = info.nuid.clone();
        let had_chunks = !info.is_link();
        info.deleted = true;
        info.size = 0;
        info.chunks = 0;
        info.digest = String::new();
        info.mtime = SystemTime::now();
        self.publish_meta(&info).await?;
        if had_chunks {
            self.purge_chunks(&nuid).await?;
        }
        Ok(())
    }

    /// Changes an object's name, description, metadata and headers (its
    /// chunks stay). A new name must be free.
    ///
    /// # Errors
    ///
    /// `ObjectNotFound`; `KeyExists` when the new name holds an object;
    /// `InvalidArgument` for a link (update the object it points to).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// use nats_actix::jetstream::object::ObjectMeta;
    /// store.update_meta("draft.txt", ObjectMeta::new("final.txt").description("v1")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_meta(&self, name: &str, meta: ObjectMeta) -> Result<ObjectInfo, Error> {
        validate_name(&meta.name)?;
        let mut info = self.info(name).await?;
        if info.is_link() {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                format!("{name:?} is a link; update the object it points to"),
            ));
        }
        let renamed = meta.name != name;
        if renamed && self.raw_info(&meta.name).await?.is_some_and(|i| !i.deleted) {
            return Err(Error::with_source(
                ErrorKind::KeyExists,
                format!("object {:?} exists in bucket {:?}", meta.name, self.bucket),
            ));
        }
        info.name = meta.name;
        info.description = meta.description;
        info.metadata = meta.metadata;
        if meta.headers.is_some() {
            info.headers = meta.headers;
        }
        self.publish_meta(&info).await?;
        if renamed {
            self.js
                .purge_stream(
                    &self.stream,
                    PurgeRequest::default().filter(self.meta_subject(name)),
                )
                .await?;
        }
        Ok(info)
    }

    fn link_info(&self, name: &str, link: ObjectLink) -> ObjectInfo {
        ObjectInfo {
            name: name.to_string(),
            description: None,
            headers: None,
            metadata: HashMap::new(),
            options: Some(ObjectMetaOptions {
                link: Some(link),
                max_chunk_size: 0,
            }),
            bucket: self.bucket.clone(),
            nuid: crate::nuid::next(),
            size: 0,
            mtime: SystemTime::now(),
            chunks: 0,
            digest: String::new(),
            deleted: false,
        }
    }

    async fn put_link(&self, name: &str, link: ObjectLink) -> Result<ObjectInfo, Error> {
        validate_name(name)?;
        if let Some(existing) = self.raw_info(name).await?
            && !existing.deleted
            && !existing.is_link()
        {
            return Err(Error::with_source(
                ErrorKind::KeyExists,
                format!(
                    "object {name:?} exists in bucket {:?} and is not a link",
                    self.bucket
                ),
            ));
        }
        let info = self.link_info(name, link);
        self.publish_meta(&info).await?;
        Ok(info)
    }

    /// Stores `name` as a link to the object `target` (read through
    /// [`ObjectStore::get`]).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when `target` is deleted or a link itself;
    /// `KeyExists` when `name` holds an object that is not a link.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// let target = store.info("v2/report.pdf").await?;
    /// store.add_link("latest.pdf", &target).await?;
    /// let bytes = store.get("latest.pdf").await?.read_all().await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_link(&self, name: &str, target: &ObjectInfo) -> Result<ObjectInfo, Error> {
        if target.deleted || target.is_link() {
            return Err(Error::with_source(
                ErrorKind::InvalidArgument,
                format!(
                    "cannot link to {:?}: it is {}",
                    target.name,
                    if target.deleted { "deleted" } else { "a link" }
                ),
            ));
        }
        self.put_link(
            name,
            ObjectLink {
                bucket: target.bucket.clone(),
                name: Some(target.name.clone()),
            },
        )
        .await
    }

    /// Stores `name` as a link to the bucket `target`.
    ///
    /// # Errors
    ///
    /// `KeyExists` when `name` holds an object that is not a link.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// let store = js.object_store("files").await?;
    /// let archive = js.object_store("archive").await?;
    /// store.add_bucket_link("old", &archive).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_bucket_link(
        &self,
        name: &str,
        target: &ObjectStore,
    ) -> Result<ObjectInfo, Error> {
        self.put_link(
            name,
            ObjectLink {
                bucket: target.bucket.clone(),
                name: None,
            },
        )
        .await
    }

    /// Every object in the bucket (deleted ones left out), in the order
    /// they were last written.
    ///
    /// # Errors
    ///
    /// The API's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: nats_actix::jetstream::object::ObjectStore) -> nats_actix::Result<()> {
    /// for o in store.list().await? {
    ///     println!("{} {}", o.name, o.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<ObjectInfo>, Error> {
        let mut w = self
            .watcher(WatchOptions::new().ignore_deletes(true))
            .await?;
        w.initial().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_padded_base64url_and_read_either_way() {
        let d = digest_string(&[0xfb; 32]);
        assert!(d.starts_with("SHA-256=") && d.ends_with('='));
        assert_eq!(digest_bytes(&d).unwrap(), vec![0xfb; 32]);
        assert_eq!(
            digest_bytes(d.trim_end_matches('=')).unwrap(),
            vec![0xfb; 32]
        );
        assert!(digest_bytes("MD5=abc").is_none());
    }

    #[test]
    fn mtime_parses_with_and_without_fraction_and_offsets() {
        let a = parse_time("2024-03-01T10:00:00Z").unwrap();
        let b = parse_time("2024-03-01T10:00:00.5Z").unwrap();
        assert_eq!(b.duration_since(a).unwrap(), Duration::from_millis(500));
        let c = parse_time("2024-03-01T12:00:00+02:00").unwrap();
        assert_eq!(a, c);
        let d = parse_time("2024-03-01T09:00:00.000000000-01:00").unwrap();
        assert_eq!(a, d);
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn meta_json_uses_adr20_names() {
        let info = ObjectInfo {
            name: "a b".into(),
            description: None,
            headers: None,
            metadata: HashMap::new(),
            options: Some(ObjectMetaOptions {
                link: None,
                max_chunk_size: 1024,
            }),
            bucket: "b".into(),
            nuid: "N".into(),
            size: 3,
            mtime: UNIX_EPOCH + Duration::from_nanos(1_500),
            chunks: 1,
            digest: "SHA-256=x".into(),
            deleted: false,
        };
        let v: serde_json::Value = serde_json::to_value(&info).unwrap();
        assert_eq!(v["mtime"], "1970-01-01T00:00:00.000001500Z");
        assert_eq!(v["options"]["max_chunk_size"], 1024);
        assert!(v.get("deleted").is_none());
        let back: ObjectInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, info);
        let go = r#"{"name":"x","bucket":"b","nuid":"n","size":0,"mtime":"2024-03-01T10:00:00Z","chunks":0,"deleted":true}"#;
        let i: ObjectInfo = serde_json::from_str(go).unwrap();
        assert!(i.deleted && i.digest.is_empty());
        let rs = r#"{"name":"x","description":null,"metadata":{},"headers":null,"options":{"link":null,"max_chunk_size":null},"bucket":"b","nuid":"n","size":1,"chunks":1,"mtime":"2024-03-01T10:00:00.123Z","digest":"SHA-256=x"}"#;
        let i: ObjectInfo = serde_json::from_str(rs).unwrap();
        assert_eq!((i.size, i.link().is_none()), (1, true));
        assert_eq!(i.options.map(|o| o.max_chunk_size), Some(0));
    }
}
