//! Endpoints: the request an endpoint's handler receives
//! ([`ServiceRequest`]), how it answers ([`ServiceReply`],
//! [`ServiceError`]), and who handles it ([`EndpointHandler`]: an actor or
//! an async closure).
//!
//! The endpoint's subscription delivers each request straight from the
//! connection into the handler actor's mailbox (or a task for a closure):
//! no hop in between, and the answer is written to the connection's
//! buffer from the handler's own thread.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::stats::EndpointCounters;
use crate::{Error, ErrorKind, HeaderMap, Msg, Subject};

/// The header carrying a service error's description (ADR-32).
pub const SERVICE_ERROR: &str = "Nats-Service-Error";
/// The header carrying a service error's numeric code (ADR-32).
pub const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";

/// What an endpoint is: its name, subject, queue group and metadata.
#[derive(Debug)]
pub(crate) struct EndpointShared {
    pub(crate) name: String,
    pub(crate) subject: Subject,
    /// Empty when the endpoint has no queue group.
    pub(crate) queue_group: String,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) counters: EndpointCounters,
}

/// A service error: a numeric code and a description, sent back in the
/// `Nats-Service-Error-Code` and `Nats-Service-Error` headers and counted
/// in the endpoint's `num_errors` and `last_error`.
///
/// # Examples
///
/// ```
/// use nats_actix::service::ServiceError;
/// let e = ServiceError::new(400, "bad input");
/// assert_eq!(e.to_string(), "400:bad input");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The code (`Nats-Service-Error-Code`).
    pub code: u16,
    /// The description (`Nats-Service-Error`).
    pub description: String,
}

impl ServiceError {
    /// A service error.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = nats_actix::service::ServiceError::new(500, "oops");
    /// assert_eq!(e.code, 500);
    /// ```
    pub fn new(code: u16, description: impl Into<String>) -> ServiceError {
        ServiceError {
            code,
            description: description.into(),
        }
    }

    /// The service error carried by a reply's headers, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::{HeaderMap, Msg};
    /// use nats_actix::service::ServiceError;
    /// let mut msg = Msg::new("x", None, "");
    /// let mut h = HeaderMap::new();
    /// h.insert("Nats-Service-Error", "nope");
    /// h.insert("Nats-Service-Error-Code", "404");
    /// msg.headers = Some(h);
    /// assert_eq!(ServiceError::of(&msg), Some(ServiceError::new(404, "nope")));
    /// ```
    pub fn of(msg: &Msg) -> Option<ServiceError> {
        let h = msg.headers.as_ref()?;
        let code = h.get(SERVICE_ERROR_CODE)?;
        Some(ServiceError {
            code: code.trim().parse().unwrap_or(0),
            description: h.get(SERVICE_ERROR).unwrap_or_default().to_string(),
        })
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.code, self.description)
    }
}

impl std::error::Error for ServiceError {}

/// A request to a service endpoint, as its handler receives it.
///
/// Answer it with [`respond`](ServiceRequest::respond),
/// [`respond_json`](ServiceRequest::respond_json),
/// [`respond_with_headers`](ServiceRequest::respond_with_headers) or
/// [`respond_error`](ServiceRequest::respond_error), or return
/// [`ServiceRequest::reply`] from an actor's handler. The endpoint's
/// statistics count the request when it arrives and its processing time
/// (from receipt to the answer) when it is answered.
///
/// **Dropped unanswered**: the time until the drop still counts as
/// processing time, nothing is sent, and it is not an error (the
/// requester, if it waits, times out). Only the first answer counts; a
/// second one is still sent.
///
/// As an actix [`Message`] its result is a [`ServiceReply`]: an actor
/// handler either answers by its result (`req.reply(...)`) or answers
/// itself and returns [`ServiceReply::done`].
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use nats_actix::service::{ServiceError, ServiceReply, ServiceRequest};
///
/// struct Adder;
/// impl Actor for Adder {
///     type Context = Context<Self>;
/// }
/// impl Handler<ServiceRequest> for Adder {
///     type Result = ServiceReply;
///     fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
///         let sum = req
///             .json::<Vec<i64>>()
///             .map(|v| v.iter().sum::<i64>().to_string())
///             .map_err(|_| ServiceError::new(400, "expected a JSON array of numbers"));
///         req.reply(sum)
///     }
/// }
/// ```
pub struct ServiceRequest {
    msg: Msg,
    endpoint: Arc<EndpointShared>,
    received: Instant,
    answered: Cell<bool>,
}

impl Message for ServiceRequest {
    type Result = ServiceReply;
}

impl fmt::Debug for ServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceRequest")
            .field("endpoint", &self.endpoint.name)
            .field("msg", &self.msg)
            .field("answered", &self.answered.get())
            .finish()
    }
}

impl ServiceRequest {
    pub(crate) fn new(msg: Msg, endpoint: Arc<EndpointShared>) -> ServiceRequest {
        ServiceRequest {
            msg,
            endpoint,
            received: Instant::now(),
            answered: Cell::new(false),
        }
    }

    /// The message as received.
    pub fn msg(&self) -> &Msg {
        &self.msg
    }

    /// The subject it was sent to.
    pub fn subject(&self) -> &Subject {
        &self.msg.subject
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.msg.payload
    }

    /// The request's headers.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.msg.headers.as_ref()
    }

    /// The reply subject, `None` when the sender expects no answer.
    pub fn reply_subject(&self) -> Option<&Subject> {
        self.msg.reply.as_ref()
    }

    /// The name of the endpoint that received it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint.name
    }

    /// Decodes the payload as JSON.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when the payload is not valid JSON for `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.msg.json()
    }

    /// Whether it has been answered.
    pub fn is_answered(&self) -> bool {
        self.answered.get()
    }

    /// Counts the answer once: processing time, and the error if any.
    fn account(&self, error: Option<(u16, &str)>) {
        if self.answered.replace(true) {
            return;
        }
        let c = &self.endpoint.counters;
        c.processed(self.received.elapsed());
        if let Some((code, description)) = error {
            c.error(code, description);
        }
    }

    /// Answers with `payload`. `Ok(false)` when the request has no reply
    /// subject (nothing is sent, the request still counts as answered).
    ///
    /// # Errors
    ///
    /// As [`Msg::respond`]: `Closed`, `MaxPayloadExceeded`, `BufferFull`, ...
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::ServiceRequest;
    /// # fn handle(req: ServiceRequest) -> nats_actix::Result<()> {
    /// req.respond("done")?;
    /// # Ok(()) }
    /// ```
    pub fn respond(&self, payload: impl Into<Bytes>) -> Result<bool, Error> {
        self.account(None);
        self.msg.respond(payload)
    }

    /// Answers with `value` as JSON.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when `value` does not serialize (then nothing is
    /// sent or counted), and those of [`ServiceRequest::respond`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::ServiceRequest;
    /// # fn handle(req: ServiceRequest) -> nats_actix::Result<()> {
    /// req.respond_json(&serde_json::json!({ "sum": 6 }))?;
    /// # Ok(()) }
    /// ```
    pub fn respond_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<bool, Error> {
        let body =
            serde_json::to_vec(value).map_err(|e| Error::with_source(ErrorKind::Codec, e))?;
        self.respond(body)
    }

    /// Answers with headers and `payload`. A reply whose headers carry
    /// `Nats-Service-Error-Code` counts as an error.
    ///
    /// # Errors
    ///
    /// As [`ServiceRequest::respond`], and `InvalidHeader`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::ServiceRequest;
    /// # fn handle(req: ServiceRequest) -> nats_actix::Result<()> {
    /// let mut h = nats_actix::HeaderMap::new();
    /// h.insert("X-Cache", "hit");
    /// req.respond_with_headers(h, "cached")?;
    /// # Ok(()) }
    /// ```
    pub fn respond_with_headers(
        &self,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<bool, Error> {
        match headers.get(SERVICE_ERROR_CODE) {
            Some(code) => {
                let code = code.trim().parse().unwrap_or(0);
                let desc = headers.get(SERVICE_ERROR).unwrap_or_default();
                self.account(Some((code, desc)));
            }
            None => self.account(None),
        }
        self.msg.respond_with_headers(Some(headers), payload)
    }

    /// Answers with a service error: the `Nats-Service-Error-Code` and
    /// `Nats-Service-Error` headers and an empty body. Counts as an error
    /// (`last_error` becomes `"<code>:<description>"`).
    ///
    /// # Errors
    ///
    /// As [`ServiceRequest::respond_with_headers`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::ServiceRequest;
    /// # fn handle(req: ServiceRequest) -> nats_actix::Result<()> {
    /// req.respond_error(404, "no such account")?;
    /// # Ok(()) }
    /// ```
    pub fn respond_error(&self, code: u16, description: &str) -> Result<bool, Error> {
        self.respond_error_with(code, description, Bytes::new())
    }

    /// Like [`ServiceRequest::respond_error`], with a body.
    ///
    /// # Errors
    ///
    /// As [`ServiceRequest::respond_with_headers`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::ServiceRequest;
    /// # fn handle(req: ServiceRequest) -> nats_actix::Result<()> {
    /// req.respond_error_with(422, "invalid", r#"{"field":"amount"}"#)?;
    /// # Ok(()) }
    /// ```
    pub fn respond_error_with(
        &self,
        code: u16,
        description: &str,
        payload: impl Into<Bytes>,
    ) -> Result<bool, Error> {
        self.account(Some((code, description)));
        let mut h = HeaderMap::new();
        h.insert(SERVICE_ERROR, description);
        h.insert(SERVICE_ERROR_CODE, code.to_string());
        self.msg.respond_with_headers(Some(h), payload)
    }

    /// The answer to return from an actor's handler: `Ok(body)` responds
    /// with the body, `Err(e)` with the service error `e`. The endpoint
    /// sends it as soon as the handler returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nats_actix::service::{ServiceError, ServiceReply, ServiceRequest};
    /// # fn handle(req: ServiceRequest) -> ServiceReply {
    /// match req.json::<u32>() {
    ///     Ok(n) => req.reply(Ok((n * 2).to_string())),
    ///     Err(_) => req.reply::<String>(Err(ServiceError::new(400, "not a number"))),
    /// }
    /// # }
    /// ```
    pub fn reply<B: Into<Bytes>>(self, result: Result<B, ServiceError>) -> ServiceReply {
        ServiceReply(Some((self, result.map(Into::into))))
    }
}

impl Drop for ServiceRequest {
    fn drop(&mut self) {
        if !self.answered.get() {
            // Dropped unanswered: its time counts, it is not an error.
            self.account(None);
        }
    }
}

/// What an actor's `Handler<ServiceRequest>` returns: an answer to send
/// ([`ServiceRequest::reply`]) or nothing more to do
/// ([`ServiceReply::done`], when the handler answered itself or keeps the
/// request to answer later).
///
/// # Examples
///
/// ```
/// let r = nats_actix::service::ServiceReply::done();
/// assert!(!r.has_answer());
/// ```
#[derive(Debug)]
pub struct ServiceReply(Option<(ServiceRequest, Result<Bytes, ServiceError>)>);

impl ServiceReply {
    /// Nothing to send.
    pub fn done() -> ServiceReply {
        ServiceReply(None)
    }

    /// Whether it carries an answer.
    pub fn has_answer(&self) -> bool {
        self.0.is_some()
    }

    /// Sends the answer it carries, if any.
    pub(crate) fn send(self) {
        let res = match self.0 {
            None => return,
            Some((req, Ok(body))) => req.respond(body),
            Some((req, Err(e))) => req.respond_error(e.code, &e.description),
        };
        if let Err(e) = res {
            tracing::debug!(error = %e, "service reply not sent");
        }
    }
}

impl Default for ServiceReply {
    fn default() -> Self {
        ServiceReply::done()
    }
}

impl From<()> for ServiceReply {
    fn from((): ()) -> Self {
        ServiceReply::done()
    }
}

impl<A: Actor> MessageResponse<A, ServiceRequest> for ServiceReply {
    fn handle(self, _: &mut A::Context, tx: Option<OneshotSender<ServiceReply>>) {
        // The answer goes out from the handler's own thread, right after
        // it returned: no task and no round trip through the endpoint.
        self.send();
        if let Some(tx) = tx {
            let _ = tx.send(ServiceReply::done());
        }
    }
}

type BoxFut = Pin<Box<dyn Future<Output = ServiceReply>>>;

/// Who handles an endpoint's requests: an actor (a
/// `Recipient<ServiceRequest>`) or an async closure.
///
/// # Examples
///
/// ```
/// use nats_actix::service::EndpointHandler;
/// let h = EndpointHandler::func(|req| async move {
///     let _ = req.respond("pong");
/// });
/// # drop(h);
/// ```
#[derive(Clone)]
pub enum EndpointHandler {
    /// An actor's `Handler<ServiceRequest>`.
    Actor(Recipient<ServiceRequest>),
    /// An async closure, run as a task on the connection's arbiter.
    Func(Arc<dyn Fn(ServiceRequest) -> BoxFut + Send + Sync>),
}

impl fmt::Debug for EndpointHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointHandler::Actor(_) => f.write_str("EndpointHandler::Actor"),
            EndpointHandler::Func(_) => f.write_str("EndpointHandler::Func"),
        }
    }
}

impl EndpointHandler {
    /// An async closure handler. Its future may answer itself (returning
    /// `()`) or return a [`ServiceReply`].
    pub fn func<F, Fut, R>(f: F) -> EndpointHandler
    where
        F: Fn(ServiceRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + 'static,
        R: Into<ServiceReply> + 'static,
    {
        EndpointHandler::Func(Arc::new(move |req| {
            let fut = f(req);
            Box::pin(async move { fut.await.into() })
        }))
    }

    /// The delivery function of the endpoint's subscription: it returns
    /// `false` once the handler is gone, which ends the subscription.
    ///
    /// A request that finds the handler actor stopped is answered with
    /// the service error 503 (counted as an error) rather than left to
    /// time out, and the endpoint leaves the service's INFO and STATS.
    pub(crate) fn delivery(
        self,
        endpoint: Arc<EndpointShared>,
        service: std::sync::Weak<super::ServiceShared>,
    ) -> Arc<dyn Fn(Msg) -> bool + Send + Sync> {
        match self {
            EndpointHandler::Actor(r) => Arc::new(move |msg| {
                endpoint.counters.received();
                let req = ServiceRequest::new(msg, endpoint.clone());
                match r.try_send(req) {
                    Ok(()) => true,
                    // A full mailbox is no reason to refuse: queue it.
                    Err(actix::prelude::SendError::Full(req)) => {
                        r.do_send(req);
                        true
                    }
                    Err(actix::prelude::SendError::Closed(req)) => {
                        let _ = req.respond_error(503, "the endpoint's handler has stopped");
                        if let Some(service) = service.upgrade() {
                            service.remove_endpoint(&endpoint);
                        }
                        false
                    }
                }
            }),
            EndpointHandler::Func(f) => Arc::new(move |msg| {
                endpoint.counters.received();
                let fut = f(ServiceRequest::new(msg, endpoint.clone()));
                actix_rt::spawn(async move { fut.await.send() });
                true
            }),
        }
    }
}

impl From<Recipient<ServiceRequest>> for EndpointHandler {
    fn from(r: Recipient<ServiceRequest>) -> Self {
        EndpointHandler::Actor(r)
    }
}

impl<A> From<Addr<A>> for EndpointHandler
where
    A: Actor + Handler<ServiceRequest>,
    A::Context: actix::dev::ToEnvelope<A, ServiceRequest>,
{
    fn from(a: Addr<A>) -> Self {
        EndpointHandler::Actor(a.recipient())
    }
}
