//! The Service API (ADR-32, "micro"): request/reply services that can be
//! discovered and monitored, whose endpoints are handled by your actors.
//!
//! - [`ServiceBuilder`] (from [`Client::service_builder`]) validates the
//!   name (`A-Z a-z 0-9 - _`) and the SemVer version, takes a description,
//!   metadata, a queue group (`q` unless set, or none) and a stats-data
//!   hook, and starts a [`Service`] with a fresh nuid as its id.
//! - [`Service::add_endpoint`] and [`Group`]s add endpoints: each one is a
//!   (queue) subscription that delivers [`ServiceRequest`]s straight into
//!   its handler: an actor's `Handler<ServiceRequest>` (which may answer by
//!   its result, [`ServiceReply`]) or an async closure.
//! - Discovery: every service answers `$SRV.PING|INFO|STATS`, with and
//!   without its name and id, with the `io.nats.micro.v1.*` documents of
//!   [`discovery`]. Discovery never stops answering: a request without a
//!   reply subject or an answer that cannot be sent is counted
//!   ([`Service::discovery_skipped`]) and skipped.
//! - Statistics per endpoint (requests, errors, last error, processing
//!   time from receipt to answer), [`Service::reset`], [`Service::stop`]
//!   and [`Service::drain`] (every request already accepted is answered).
//! - [`Discovery`] is the other side: ping, info and stats of all services,
//!   of one name, or of one instance.
//!
//! Services sit on the connection's ordinary subscriptions, so they carry
//! on across reconnects.
//!
//! # Examples
//!
//! ```no_run
//! use actix::prelude::*;
//! use nats_actix::Client;
//! use nats_actix::service::{EndpointHandler, ServiceReply, ServiceRequest};
//!
//! struct Echo;
//! impl Actor for Echo {
//!     type Context = Context<Self>;
//! }
//! impl Handler<ServiceRequest> for Echo {
//!     type Result = ServiceReply;
//!     fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
//!         let body = req.payload().clone();
//!         req.reply(Ok(body))
//!     }
//! }
//!
//! # async fn run(client: Client) -> nats_actix::Result<()> {
//! let service = client
//!     .service_builder()
//!     .name("echo")
//!     .version("1.0.0")
//!     .description("echoes")
//!     .start()
//!     .await?;
//! service.add_endpoint("echo", Echo.start()).await?;
//! let math = service.add_group("math")?;
//! math.add_endpoint("ping", EndpointHandler::func(|req| async move {
//!     let _ = req.respond("pong");
//! }))
//! .await?;
//! # Ok(()) }
//! ```

mod config;
pub mod discovery;
mod endpoint;
mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::messages::{Delivery, Subscribe, SubscribeOptions, SubscriptionHandle};
use crate::subject::validate_subscribe;
use crate::{Client, Error, ErrorKind, Msg, Subject};

pub use config::{EndpointConfig, validate_name, validate_version};
use config::{Queue, check_queue, invalid};
pub use discovery::{
    Discovery, EndpointInfo, EndpointStats, InfoResponse, PingResponse, StatsResponse, Verb,
};
use endpoint::EndpointShared;
pub use endpoint::{
    EndpointHandler, SERVICE_ERROR, SERVICE_ERROR_CODE, ServiceError, ServiceReply, ServiceRequest,
};

/// The default queue group of endpoints (ADR-32).
pub const DEFAULT_QUEUE_GROUP: &str = "q";

/// The stats-data hook: given an endpoint's name, the JSON for its `data`
/// field (`Null` leaves it out).
pub type StatsDataHook = Arc<dyn Fn(&str) -> serde_json::Value + Send + Sync>;

/// Builds and starts a [`Service`].
///
/// # Examples
///
/// ```no_run
/// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
/// let service = client
///     .service_builder()
///     .name("calc")
///     .version("1.0.0")
///     .metadata("region", "eu")
///     .queue_group("calc-workers")
///     .stats_data(|endpoint| serde_json::json!({ "endpoint": endpoint }))
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
pub struct ServiceBuilder {
    client: Client,
    name: String,
    version: String,
    description: String,
    metadata: BTreeMap<String, String>,
    queue_group: Option<String>,
    stats_data: Option<StatsDataHook>,
    prefix: String,
}

impl std::fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("queue_group", &self.queue_group)
            .finish()
    }
}

impl ServiceBuilder {
    /// A builder on `client` (name and version still to set).
    pub fn new(client: Client) -> ServiceBuilder {
        ServiceBuilder {
            client,
            name: String::new(),
            version: String::new(),
            description: String::new(),
            metadata: BTreeMap::new(),
            queue_group: Some(DEFAULT_QUEUE_GROUP.to_string()),
            stats_data: None,
            prefix: discovery::SRV_PREFIX.to_string(),
        }
    }
    /// Answers discovery under `prefix` instead of `$SRV` (ADR-32: for
    /// tools that reach services across accounts).
    pub fn discovery_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// The service name (`A-Z a-z 0-9 - _`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// The SemVer version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// A description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
    /// The endpoints' default queue group (`q` unless set).
    pub fn queue_group(mut self, q: impl Into<String>) -> Self {
        self.queue_group = Some(q.into());
        self
    }
    /// No queue group by default: every instance gets every request.
    pub fn no_queue_group(mut self) -> Self {
        self.queue_group = None;
        self
    }
    /// The stats-data hook: the JSON `data` of each endpoint in STATS. It
    /// runs on the connection's thread: keep it quick.
    pub fn stats_data(
        mut self,
        f: impl Fn(&str) -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.stats_data = Some(Arc::new(f));
        self
    }

    /// Validates, subscribes to discovery, and waits until the server has
    /// the interest (a round trip).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a bad name, version or queue group; the
    /// errors of subscribing and [`Client::flush`].
    pub async fn start(self) -> Result<Service, Error> {
        validate_name(&self.name)?;
        validate_version(&self.version)?;
        Verb::Ping.subject_with(&self.prefix, None, None)?;
        if let Some(q) = &self.queue_group {
            check_queue(&Queue::Named(q.clone()))?;
        }
        let shared = Arc::new(ServiceShared {
            name: self.name,
            id: crate::nuid::next(),
            version: self.version,
            description: self.description,
            metadata: self.metadata,
            queue_group: self.queue_group,
            started: SystemTime::now(),
            endpoints: RwLock::new(Vec::new()),
            stats_data: self.stats_data,
            discovery_skipped: AtomicU64::new(0),
        });
        let service = Service {
            inner: Arc::new(Inner {
                client: self.client,
                shared: shared.clone(),
                endpoint_subs: Mutex::new(Vec::new()),
                discovery_subs: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
                stopped_tx: tokio::sync::watch::channel(false).0,
            }),
        };
        for verb in Verb::ALL {
            for (name, id) in [
                (None, None),
                (Some(shared.name.as_str()), None),
                (Some(shared.name.as_str()), Some(shared.id.as_str())),
            ] {
                let subject = verb.subject_with(&self.prefix, name, id)?;
                let sh = shared.clone();
                let f = move |msg: Msg| {
                    sh.answer_discovery(verb, &msg);
                    true
                };
                let handle = service
                    .subscribe(subject, Delivery::Func(Arc::new(f)), None)
                    .await?;
                lock(&service.inner.discovery_subs).push(handle);
            }
        }
        service.inner.client.flush().await?;
        Ok(service)
    }
}

impl Client {
    /// A [`ServiceBuilder`] on this client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
    /// let svc = client.service_builder().name("calc").version("0.1.0").start().await?;
    /// println!("started {}", svc.id());
    /// # Ok(()) }
    /// ```
    pub fn service_builder(&self) -> ServiceBuilder {
        ServiceBuilder::new(self.clone())
    }
}

/// What discovery answers from: the service's description and endpoints.
pub(crate) struct ServiceShared {
    name: String,
    id: String,
    version: String,
    description: String,
    metadata: BTreeMap<String, String>,
    queue_group: Option<String>,
    started: SystemTime,
    endpoints: RwLock<Vec<Arc<EndpointShared>>>,
    stats_data: Option<StatsDataHook>,
    discovery_skipped: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ServiceShared {
    /// Forgets an endpoint (its handler is gone).
    fn remove_endpoint(&self, ep: &Arc<EndpointShared>) {
        self.endpoints
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|e| !Arc::ptr_eq(e, ep));
    }

    fn endpoints(&self) -> Vec<Arc<EndpointShared>> {
        self.endpoints
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn ping(&self) -> PingResponse {
        PingResponse {
            kind: discovery::PING_RESPONSE_TYPE.to_string(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
        }
    }

    fn info(&self) -> InfoResponse {
        InfoResponse {
            kind: discovery::INFO_RESPONSE_TYPE.to_string(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            description: self.description.clone(),
            endpoints: self
                .endpoints()
                .iter()
                .map(|e| EndpointInfo {
                    name: e.name.clone(),
                    subject: e.subject.to_string(),
                    queue_group: e.queue_group.clone(),
                    metadata: e.metadata.clone(),
                })
                .collect(),
        }
    }

    fn stats(&self) -> StatsResponse {
        StatsResponse {
            kind: discovery::STATS_RESPONSE_TYPE.to_string(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            endpoints: self
                .endpoints()
                .iter()
                .map(|e| {
                    let c = e.counters.snapshot();
                    let data = self
                        .stats_data
                        .as_ref()
                        .map(|f| f(&e.name))
                        .filter(|v| !v.is_null());
                    EndpointStats {
                        name: e.name.clone(),
                        subject: e.subject.to_string(),
                        queue_group: e.queue_group.clone(),
                        num_requests: c.num_requests,
                        num_errors: c.num_errors,
                        last_error: c.last_error,
                        data,
                        processing_time: c.processing_time,
                        average_processing_time: c.average_processing_time,
                    }
                })
                .collect(),
            started: humantime::format_rfc3339_nanos(self.started).to_string(),
        }
    }

    /// Answers one discovery request; never fails, never stops: what
    /// cannot be answered is counted and skipped.
    fn answer_discovery(&self, verb: Verb, msg: &Msg) {
        let body = match verb {
            Verb::Ping => serde_json::to_vec(&self.ping()),
            Verb::Info => serde_json::to_vec(&self.info()),
            Verb::Stats => serde_json::to_vec(&self.stats()),
        };
        let sent = match body {
            Ok(body) => msg.respond(body),
            Err(e) => Err(Error::with_source(ErrorKind::Codec, e)),
        };
        if !matches!(sent, Ok(true)) {
            self.discovery_skipped.fetch_add(1, Relaxed);
            tracing::debug!(service = %self.name, ?sent, "discovery request skipped");
        }
    }
}

/// A running service: a cheap `Clone` handle. Dropping every handle
/// does not stop it (its subscriptions live in the connection): call
/// [`Service::stop`] or [`Service::drain`], or close the client.
///
/// # Examples
///
/// ```no_run
/// # async fn run(client: nats_actix::Client) -> nats_actix::Result<()> {
/// let svc = client.service_builder().name("calc").version("1.0.0").start().await?;
/// let stats = svc.stats();
/// assert_eq!(stats.endpoints.len(), 0);
/// svc.drain().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    shared: Arc<ServiceShared>,
    endpoint_subs: Mutex<Vec<(SubscriptionHandle, Arc<EndpointShared>)>>,
    discovery_subs: Mutex<Vec<SubscriptionHandle>>,
    stopped: AtomicBool,
    stopped_tx: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.shared.name)
            .field("id", &self.inner.shared.id)
            .field("version", &self.inner.shared.version)
            .finish()
    }
}

impl Service {
    /// The name.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }
    /// This instance's id (a nuid).
    pub fn id(&self) -> &str {
        &self.inner.shared.id
    }
    /// The version.
    pub fn version(&self) -> &str {
        &self.inner.shared.version
    }
    /// The client it runs on.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
    /// What PING answers.
    pub fn ping(&self) -> PingResponse {
        self.inner.shared.ping()
    }
    /// What INFO answers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(svc: nats_actix::service::Service) {
    /// let subjects: Vec<String> = svc.info().endpoints.into_iter().map(|e| e.subject).collect();
    /// # }
    /// ```
    pub fn info(&self) -> InfoResponse {
        self.inner.shared.info()
    }
    /// What STATS answers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(svc: nats_actix::service::Service) {
    /// for e in svc.stats().endpoints {
    ///     println!("{}: {} requests, {} errors", e.name, e.num_requests, e.num_errors);
    /// }
    /// # }
    /// ```
    pub fn stats(&self) -> StatsResponse {
        self.inner.shared.stats()
    }
    /// Discovery requests that could not be answered (no reply subject,
    /// or the answer could not be sent): counted, skipped, and discovery
    /// carries on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(svc: nats_actix::service::Service) {
    /// println!("{} discovery requests skipped", svc.discovery_skipped());
    /// # }
    /// ```
    pub fn discovery_skipped(&self) -> u64 {
        self.inner.shared.discovery_skipped.load(Relaxed)
    }
    /// Resets every endpoint's statistics.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(svc: nats_actix::service::Service) {
    /// svc.reset();
    /// assert!(svc.stats().endpoints.iter().all(|e| e.num_requests == 0));
    /// # }
    /// ```
    pub fn reset(&self) {
        for e in self.inner.shared.endpoints() {
            e.counters.reset();
        }
    }
    /// Whether it was stopped or drained.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Relaxed)
    }
    /// Resolves once the service is stopped or drained.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(svc: nats_actix::service::Service) {
    /// let waiter = svc.clone();
    /// actix_rt::spawn(async move { waiter.stopped().await; println!("stopped") });
    /// # }
    /// ```
    pub async fn stopped(&self) {
        let mut rx = self.inner.stopped_tx.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    async fn subscribe(
        &self,
        subject: String,
        delivery: Delivery,
        queue: Option<String>,
    ) -> Result<SubscriptionHandle, Error> {
        let mut options = SubscribeOptions::default();
        if let Some(q) = queue {
            options = options.queue(q);
        }
        self.inner
            .client
            .connection()
            .send(Subscribe {
                subject: Subject::from(subject),
                delivery,
                options,
            })
            .await
            .map_err(|_| Error::new(ErrorKind::Closed))?
    }

    async fn add(
        &self,
        prefix: &str,
        parent_queue: &Option<String>,
        cfg: EndpointConfig,
        handler: EndpointHandler,
    ) -> Result<(), Error> {
        if self.is_stopped() {
            return Err(Error::with_source(
                ErrorKind::Closed,
                "the service is stopped",
            ));
        }
        validate_name(&cfg.name)?;
        let tail = cfg.subject.as_deref().unwrap_or(&cfg.name);
        let subject = if prefix.is_empty() {
            tail.to_string()
        } else {
            format!("{prefix}.{tail}")
        };
        validate_subscribe(&subject)
            .map_err(|e| invalid(format!("invalid endpoint subject {subject:?}: {e}")))?;
        let queue = cfg.queue.resolve(parent_queue);
        if let Some(q) = &queue {
            check_queue(&Queue::Named(q.clone()))?;
        }
        let ep = Arc::new(EndpointShared {
            name: cfg.name,
            subject: Subject::from(subject.clone()),
            queue_group: queue.clone().unwrap_or_default(),
            metadata: cfg.metadata,
            counters: Default::default(),
        });
        let delivery =
            Delivery::Func(handler.delivery(ep.clone(), Arc::downgrade(&self.inner.shared)));
        let handle = self.subscribe(subject, delivery, queue).await?;
        lock(&self.inner.endpoint_subs).push((handle, ep.clone()));
        self.inner
            .shared
            .endpoints
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(ep);
        self.inner.client.flush().await
    }

    /// Adds an endpoint on the subject of its name (or its own subject),
    /// handled by an actor (`Addr<A>` or `Recipient<ServiceRequest>`) or an
    /// async closure ([`EndpointHandler::func`]). Requests are answered as
    /// soon as it returns (the server has the interest).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a bad name, subject or queue group, `Closed`
    /// when the service is stopped, the errors of subscribing.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use nats_actix::service::{EndpointConfig, EndpointHandler};
    /// # async fn run(svc: nats_actix::service::Service) -> nats_actix::Result<()> {
    /// svc.add_endpoint(
    ///     EndpointConfig::new("status").subject("calc.status").no_queue_group(),
    ///     EndpointHandler::func(|req| async move {
    ///         let _ = req.respond_json(&serde_json::json!({ "ok": true }));
    ///     }),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_endpoint(
        &self,
        config: impl Into<EndpointConfig>,
        handler: impl Into<EndpointHandler>,
    ) -> Result<(), Error> {
        let q = self.inner.shared.queue_group.clone();
        self.add("", &q, config.into(), handler.into()).await
    }

    /// A group: endpoints added to it listen under the prefix `name`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when `name` is not a valid subject prefix (or
    /// holds a wildcard `>`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(svc: nats_actix::service::Service) -> nats_actix::Result<()> {
    /// let admin = svc.add_group("calc.admin")?.no_queue_group();
    /// assert_eq!(admin.prefix(), "calc.admin");
    /// # Ok(()) }
    /// ```
    pub fn add_group(&self, name: &str) -> Result<Group, Error> {
        Group::check(name)?;
        Ok(Group {
            service: self.clone(),
            prefix: name.to_string(),
            queue: self.inner.shared.queue_group.clone(),
        })
    }

    /// Stops at once: unsubscribes every endpoint and discovery. Requests
    /// already delivered to handlers can still be answered.
    ///
    /// # Errors
    ///
    /// The errors of [`Client::flush`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(svc: nats_actix::service::Service) -> nats_actix::Result<()> {
    /// svc.stop().await?;
    /// assert!(svc.is_stopped());
    /// # Ok(()) }
    /// ```
    pub async fn stop(&self) -> Result<(), Error> {
        let subs: Vec<SubscriptionHandle> = lock(&self.inner.endpoint_subs)
            .drain(..)
            .map(|(h, _)| h)
            .chain(lock(&self.inner.discovery_subs).drain(..))
            .collect();
        for h in subs {
            let _ = h.unsubscribe(None).await;
        }
        self.mark_stopped();
        self.inner.client.flush().await
    }

    /// Drains: the endpoints take no new requests, every request already
    /// accepted is handled and answered (bounded by the connection's
    /// `drain_timeout`), then discovery stops too.
    ///
    /// # Errors
    ///
    /// `TimedOut` when handlers still hold requests after `drain_timeout`
    /// (the service is stopped anyway).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(svc: nats_actix::service::Service) -> nats_actix::Result<()> {
    /// svc.drain().await?; // every accepted request has its answer
    /// # Ok(()) }
    /// ```
    pub async fn drain(&self) -> Result<(), Error> {
        let eps: Vec<(SubscriptionHandle, Arc<EndpointShared>)> =
            lock(&self.inner.endpoint_subs).drain(..).collect();
        for (h, _) in &eps {
            // Ends the interest; every request already routed is delivered.
            let _ = h.drain().await;
        }
        let timeout = self.inner.client.options().drain_timeout;
        let start = tokio::time::Instant::now();
        let mut res = Ok(());
        loop {
            let left: u64 = eps.iter().map(|(h, _)| h.pending()).sum();
            if left == 0 {
                break;
            }
            if start.elapsed() >= timeout {
                res = Err(Error::with_source(
                    ErrorKind::TimedOut,
                    format!("{left} service requests still unanswered after {timeout:?}"),
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let subs: Vec<SubscriptionHandle> = lock(&self.inner.discovery_subs).drain(..).collect();
        for h in subs {
            let _ = h.unsubscribe(None).await;
        }
        self.mark_stopped();
        let flushed = self.inner.client.flush().await;
        res.and(flushed)
    }

    fn mark_stopped(&self) {
        self.inner.stopped.store(true, Relaxed);
        self.inner.stopped_tx.send_replace(true);
    }
}

/// A group of endpoints under a common subject prefix, with its own
/// default queue group.
///
/// # Examples
///
/// ```no_run
/// # use nats_actix::service::{EndpointHandler, Service};
/// # async fn run(svc: Service) -> nats_actix::Result<()> {
/// let v1 = svc.add_group("calc")?.add_group("v1")?.queue_group("calc-v1");
/// v1.add_endpoint("add", EndpointHandler::func(|req| async move {
///     let _ = req.respond("0");
/// }))
/// .await?; // listens on calc.v1.add, queue group calc-v1
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Group {
    service: Service,
    prefix: String,
    queue: Option<String>,
}

impl Group {
    fn check(name: &str) -> Result<(), Error> {
        if name.is_empty() {
            return Ok(());
        }
        if name.split('.').any(|t| t == ">") {
            return Err(invalid(format!(
                "invalid group {name:?}: no '>' in a group"
            )));
        }
        validate_subscribe(name).map_err(|e| invalid(format!("invalid group {name:?}: {e}")))?;
        Ok(())
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The default queue group of this group's endpoints.
    pub fn queue_group(mut self, q: impl Into<String>) -> Self {
        self.queue = Some(q.into());
        self
    }

    /// No queue group by default in this group.
    pub fn no_queue_group(mut self) -> Self {
        self.queue = None;
        self
    }

    /// A nested group, prefix `<this prefix>.<name>`.
    ///
    /// # Errors
    ///
    /// As [`Service::add_group`].
    pub fn add_group(&self, name: &str) -> Result<Group, Error> {
        Group::check(name)?;
        let prefix = match (self.prefix.is_empty(), name.is_empty()) {
            (true, _) => name.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}.{name}", self.prefix),
        };
        Ok(Group {
            service: self.service.clone(),
            prefix,
            queue: self.queue.clone(),
        })
    }

    /// Adds an endpoint under this group's prefix.
    ///
    /// # Errors
    ///
    /// As [`Service::add_endpoint`].
    pub async fn add_endpoint(
        &self,
        config: impl Into<EndpointConfig>,
        handler: impl Into<EndpointHandler>,
    ) -> Result<(), Error> {
        self.service
            .add(&self.prefix, &self.queue, config.into(), handler.into())
            .await
    }
}
