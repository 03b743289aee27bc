//! The delivered NATS message.

use std::fmt;

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::headers::{HeaderMap, StatusCode};
use crate::pending::PendingToken;
use crate::writer::Writer;
use crate::{Error, ErrorKind, Subject};

/// A message delivered to a subscription.
///
/// It reaches an actor's `Handler<Msg>` or a [`Subscriber`](crate::Subscriber)
/// stream. While a `Msg` is alive it counts as *pending* for its
/// subscription's slow-consumer limits; dropping it (after handling it)
/// frees the slot.
///
/// # Examples
///
/// ```
/// use nats_actix::Msg;
/// let msg = Msg::new("greet.joe", None, "hello");
/// assert_eq!(msg.subject, "greet.joe");
/// assert_eq!(msg.payload_str().unwrap(), "hello");
/// assert!(msg.status().is_none());
/// ```
pub struct Msg {
    /// The subject it was published to.
    pub subject: Subject,
    /// Where to send a reply, if the publisher asked for one.
    pub reply: Option<Subject>,
    /// Headers, including any status line.
    pub headers: Option<HeaderMap>,
    /// The payload.
    pub payload: Bytes,
    pub(crate) sid: u64,
    pub(crate) writer: Option<Arc<Writer>>,
    /// Held for its `Drop`: the message counts as pending while alive.
    #[allow(dead_code)]
    pub(crate) token: Option<PendingToken>,
}

impl actix::Message for Msg {
    type Result = ();
}

impl Clone for Msg {
    /// Clones the message; the clone does not count as pending.
    fn clone(&self) -> Self {
        Msg {
            subject: self.subject.clone(),
            reply: self.reply.clone(),
            headers: self.headers.clone(),
            payload: self.payload.clone(),
            sid: self.sid,
            writer: self.responder().cloned(),
            token: None,
        }
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Msg")
            .field("subject", &self.subject)
            .field("reply", &self.reply)
            .field("headers", &self.headers)
            .field("payload", &self.payload)
            .field("sid", &self.sid)
            .finish()
    }
}

impl PartialEq for Msg {
    fn eq(&self, other: &Self) -> bool {
        self.subject == other.subject
            && self.reply == other.reply
            && self.headers == other.headers
            && self.payload == other.payload
    }
}

impl Msg {
    /// The message without its pending slot (it stops counting for the
    /// subscription's limits and for a drain), still able to respond.
    pub(crate) fn without_pending(mut self) -> Msg {
        if self.writer.is_none() {
            self.writer = self.responder().cloned();
        }
        self.token = None;
        self
    }

    /// The write buffer replies go to.
    fn responder(&self) -> Option<&Arc<Writer>> {
        self.writer
            .as_ref()
            .or_else(|| self.token.as_ref().and_then(PendingToken::writer))
    }

    /// A message that was not received from a server (for tests and
    /// examples); [`Msg::respond`] on it fails with `NotConnected`.
    pub fn new(
        subject: impl Into<Subject>,
        reply: Option<Subject>,
        payload: impl Into<Bytes>,
    ) -> Msg {
        Msg {
            subject: subject.into(),
            reply,
            headers: None,
            payload: payload.into(),
            sid: 0,
            writer: None,
            token: None,
        }
    }

    /// The subscription id this message was delivered to.
    pub fn sid(&self) -> u64 {
        self.sid
    }

    /// The status code of the header block, such as 503 for "no responders".
    pub fn status(&self) -> Option<StatusCode> {
        self.headers.as_ref().and_then(HeaderMap::status)
    }

    /// The payload as UTF-8.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when it is not UTF-8.
    pub fn payload_str(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload).map_err(|e| Error::with_source(ErrorKind::Codec, e))
    }

    /// Decodes the payload as JSON.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when the payload is not valid JSON for `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let msg = nats_actix::Msg::new("x", None, r#"{"n":1}"#);
    /// let v: serde_json::Value = msg.json().unwrap();
    /// assert_eq!(v["n"], 1);
    /// assert!(msg.json::<Vec<u8>>().is_err());
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|e| Error::with_source(ErrorKind::Codec, e))
    }

    /// Publishes `payload` to this message's reply subject.
    ///
    /// Returns `Ok(false)` when the message has no reply subject (nothing is
    /// sent), `Ok(true)` when the reply was handed to the connection.
    ///
    /// # Errors
    ///
    /// `NotConnected` when the message did not come from a connection,
    /// `Closed` when the connection is closed, `InvalidSubject`,
    /// `InvalidHeader`, `MaxPayloadExceeded` (checked before any byte is
    /// written) and `BufferFull` (the write buffer is at twice its limit).
    ///
    /// # Examples
    ///
    /// ```
    /// let msg = nats_actix::Msg::new("x", None, "");
    /// assert_eq!(msg.respond("pong").unwrap(), false);
    /// ```
    pub fn respond(&self, payload: impl Into<Bytes>) -> Result<bool, Error> {
        self.respond_with_headers(None, payload)
    }

    /// Like [`Msg::respond`], with headers.
    ///
    /// # Errors
    ///
    /// As [`Msg::respond`].
    pub fn respond_with_headers(
        &self,
        headers: Option<HeaderMap>,
        payload: impl Into<Bytes>,
    ) -> Result<bool, Error> {
        let Some(reply) = &self.reply else {
            return Ok(false);
        };
        let Some(writer) = self.responder() else {
            return Err(Error::new(ErrorKind::NotConnected));
        };
        writer.respond(reply, headers, payload.into())?;
        Ok(true)
    }
}
