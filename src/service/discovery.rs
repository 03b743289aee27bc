//! Discovery (ADR-32): the `$SRV.PING|INFO|STATS[.<name>[.<id>]]`
//! subjects, the `io.nats.micro.v1.*_response` JSON documents (fields in
//! the ADR's order), and [`Discovery`], a client that asks every service,
//! those of one name, or one instance, and gathers the answers.
//!
//! The documents read leniently: a peer may leave a field out, send
//! `null` or an empty string (nats.js and nats-py do), and all of them read
//! as the field's default.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Client, Error, ErrorKind, Msg, RequestManyOptions};

/// The discovery subject prefix.
pub const SRV_PREFIX: &str = "$SRV";
/// `type` of a PING response.
pub const PING_RESPONSE_TYPE: &str = "io.nats.micro.v1.ping_response";
/// `type` of an INFO response.
pub const INFO_RESPONSE_TYPE: &str = "io.nats.micro.v1.info_response";
/// `type` of a STATS response.
pub const STATS_RESPONSE_TYPE: &str = "io.nats.micro.v1.stats_response";

/// A discovery verb.
///
/// # Examples
///
/// ```
/// use nats_actix::service::discovery::Verb;
/// assert_eq!(Verb::Ping.subject(None, None).unwrap(), "$SRV.PING");
/// assert_eq!(Verb::Stats.subject(Some("calc"), Some("abc")).unwrap(), "$SRV.STATS.calc.abc");
/// assert!(Verb::Info.subject(None, Some("abc")).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `PING`: who is there.
    Ping,
    /// `INFO`: description and endpoints.
    Info,
    /// `STATS`: per-endpoint statistics.
    Stats,
}

impl Verb {
    /// All three.
    pub const ALL: [Verb; 3] = [Verb::Ping, Verb::Info, Verb::Stats];

    /// The verb as it appears in the subject.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }

    /// The subject asking all services, those named `name`, or one
    /// instance, under `$SRV`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for an id without a name, or a name or id that is
    /// not a valid service name.
    pub fn subject(self, name: Option<&str>, id: Option<&str>) -> Result<String, Error> {
        self.subject_with(SRV_PREFIX, name, id)
    }

    /// Like [`Verb::subject`], under another prefix (ADR-32 lets tools
    /// reach services across accounts through an imported prefix).
    ///
    /// # Errors
    ///
    /// As [`Verb::subject`], and `InvalidArgument` for a prefix that is not
    /// a valid subject.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::service::discovery::Verb;
    /// assert_eq!(Verb::Ping.subject_with("$SRV.eu", Some("calc"), None).unwrap(), "$SRV.eu.PING.calc");
    /// assert!(Verb::Ping.subject_with("a..b", None, None).is_err());
    /// ```
    pub fn subject_with(
        self,
        prefix: &str,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<String, Error> {
        crate::subject::validate_publish(prefix).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidArgument,
                format!("invalid discovery prefix {prefix:?}: {e}"),
            )
        })?;
        let v = self.as_str();
        match (name, id) {
            (None, None) => Ok(format!("{prefix}.{v}")),
            (Some(n), None) => {
                super::validate_name(n)?;
                Ok(format!("{prefix}.{v}.{n}"))
            }
            (Some(n), Some(i)) => {
                super::validate_name(n)?;
                super::validate_name(i).map_err(|_| {
                    Error::with_source(
                        ErrorKind::InvalidArgument,
                        format!("invalid service id {i:?}"),
                    )
                })?;
                Ok(format!("{prefix}.{v}.{n}.{i}"))
            }
            (None, Some(_)) => Err(Error::with_source(
                ErrorKind::InvalidArgument,
                "a service id needs a service name",
            )),
        }
    }
}

/// Reads `null` as the default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The `io.nats.micro.v1.ping_response` document.
///
/// # Examples
///
/// ```
/// use nats_actix::service::discovery::PingResponse;
/// let p: PingResponse = serde_json::from_str(
///     r#"{"type":"io.nats.micro.v1.ping_response","name":"calc","id":"x","version":"1.0.0","metadata":null}"#,
/// ).unwrap();
/// assert_eq!(p.name, "calc");
/// assert!(p.metadata.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// `io.nats.micro.v1.ping_response`.
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// The service name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The instance id.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// The SemVer version.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// The service metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: BTreeMap<String, String>,
}

/// An endpoint in an INFO response.
///
/// # Examples
///
/// ```
/// let e: nats_actix::service::discovery::EndpointInfo =
///     serde_json::from_str(r#"{"name":"add","subject":"calc.add"}"#).unwrap();
/// assert_eq!(e.queue_group, "");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The subject it listens on.
    #[serde(default, deserialize_with = "nullable")]
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default, deserialize_with = "nullable")]
    pub queue_group: String,
    /// The endpoint metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: BTreeMap<String, String>,
}

/// The `io.nats.micro.v1.info_response` document.
///
/// # Examples
///
/// ```
/// let i: nats_actix::service::discovery::InfoResponse =
///     serde_json::from_str(r#"{"type":"io.nats.micro.v1.info_response","name":"calc","endpoints":[]}"#).unwrap();
/// assert_eq!(i.description, "");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// `io.nats.micro.v1.info_response`.
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// The service name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The instance id.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// The SemVer version.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// The service metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: BTreeMap<String, String>,
    /// The description.
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    /// Every endpoint.
    #[serde(default, deserialize_with = "nullable")]
    pub endpoints: Vec<EndpointInfo>,
}

/// An endpoint in a STATS response.
///
/// # Examples
///
/// ```
/// let e: nats_actix::service::discovery::EndpointStats =
///     serde_json::from_str(r#"{"name":"add","num_requests":3,"last_error":null}"#).unwrap();
/// assert_eq!(e.num_requests, 3);
/// assert_eq!(e.last_error, "");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The subject it listens on.
    #[serde(default, deserialize_with = "nullable")]
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default, deserialize_with = "nullable")]
    pub queue_group: String,
    /// Requests received.
    #[serde(default, deserialize_with = "nullable")]
    pub num_requests: u64,
    /// Requests answered with a service error.
    #[serde(default, deserialize_with = "nullable")]
    pub num_errors: u64,
    /// The last error as `"<code>:<description>"`, empty when none.
    #[serde(default, deserialize_with = "nullable")]
    pub last_error: String,
    /// What the service's stats-data hook returned for this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Total processing time, in nanoseconds.
    #[serde(default, deserialize_with = "nullable")]
    pub processing_time: u64,
    /// `processing_time / num_requests`, truncated; 0 with no request.
    #[serde(default, deserialize_with = "nullable")]
    pub average_processing_time: u64,
}

/// The `io.nats.micro.v1.stats_response` document.
///
/// # Examples
///
/// ```
/// let s: nats_actix::service::discovery::StatsResponse =
///     serde_json::from_str(r#"{"type":"io.nats.micro.v1.stats_response","endpoints":null}"#).unwrap();
/// assert!(s.endpoints.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// `io.nats.micro.v1.stats_response`.
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// The service name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The instance id.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// The SemVer version.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// The service metadata.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: BTreeMap<String, String>,
    /// Every endpoint's statistics.
    #[serde(default, deserialize_with = "nullable")]
    pub endpoints: Vec<EndpointStats>,
    /// When the service started, RFC 3339 in UTC.
    #[serde(default, deserialize_with = "nullable")]
    pub started: String,
}

/// A discovery client: asks services over `$SRV` and gathers every
/// answer that arrives within `max_wait` (one request, many replies).
///
/// # Examples
///
/// ```no_run
/// use nats_actix::service::Discovery;
/// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
/// let discovery = Discovery::new(client);
/// for svc in discovery.ping(Some("calc"), None).await? {
///     println!("{} {} {}", svc.name, svc.id, svc.version);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Discovery {
    client: Client,
    max_wait: Duration,
    prefix: String,
}

impl Discovery {
    /// A discovery client that waits 1 s for answers.
    pub fn new(client: Client) -> Discovery {
        Discovery {
            client,
            max_wait: Duration::from_secs(1),
            prefix: SRV_PREFIX.to_string(),
        }
    }

    /// Asks under `prefix` instead of `$SRV`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(client: nats_actix::Client) {
    /// let d = nats_actix::service::Discovery::new(client).prefix("$SRV.eu");
    /// # }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Discovery {
        self.prefix = prefix.into();
        self
    }

    /// How long to gather answers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(client: nats_actix::Client) {
    /// let d = nats_actix::service::Discovery::new(client).max_wait(std::time::Duration::from_millis(250));
    /// # }
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Discovery {
        self.max_wait = d;
        self
    }

    /// The raw answers to `verb`, from all services (`None, None`), those
    /// named `name`, or the instance `name`/`id` (then the first answer
    /// ends the wait). No service answering is an empty list.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` (see [`Verb::subject`]), and the errors of
    /// [`Client::request_many`] other than `NoResponders`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(d: nats_actix::service::Discovery) -> nats_actix::Result<()> {
    /// let answers = d.request(nats_actix::service::Verb::Info, Some("calc"), None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn request(
        &self,
        verb: Verb,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<Msg>, Error> {
        let subject = verb.subject_with(&self.prefix, name, id)?;
        let mut opts = RequestManyOptions::default().max_wait(self.max_wait);
        if id.is_some() {
            opts = opts.max_messages(1);
        }
        match self.client.request_many(subject, "", opts).await {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == ErrorKind::NoResponders => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn typed<T: serde::de::DeserializeOwned>(
        &self,
        verb: Verb,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<T>, Error> {
        let msgs = self.request(verb, name, id).await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m.json::<T>() {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::debug!(error = %e, subject = %m.subject, "discovery answer skipped");
                    None
                }
            })
            .collect())
    }

    /// PING: who is there. Answers that are not valid JSON are skipped.
    ///
    /// # Errors
    ///
    /// As [`Discovery::request`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(d: nats_actix::service::Discovery) -> nats_actix::Result<()> {
    /// let instances = d.ping(Some("calc"), None).await?.len();
    /// # Ok(()) }
    /// ```
    pub async fn ping(
        &self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<PingResponse>, Error> {
        self.typed(Verb::Ping, name, id).await
    }

    /// INFO: descriptions and endpoints.
    ///
    /// # Errors
    ///
    /// As [`Discovery::request`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(d: nats_actix::service::Discovery) -> nats_actix::Result<()> {
    /// for i in d.info(None, None).await? { println!("{}: {}", i.name, i.description); }
    /// # Ok(()) }
    /// ```
    pub async fn info(
        &self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<InfoResponse>, Error> {
        self.typed(Verb::Info, name, id).await
    }

    /// STATS: per-endpoint statistics.
    ///
    /// # Errors
    ///
    /// As [`Discovery::request`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(d: nats_actix::service::Discovery) -> nats_actix::Result<()> {
    /// let s = d.stats(Some("calc"), Some("Xq3nD5tUqqkhYmYy3UAMhF")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn stats(
        &self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<StatsResponse>, Error> {
        self.typed(Verb::Stats, name, id).await
    }
}
