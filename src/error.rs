//! The crate's error type: one [`Error`] with an [`ErrorKind`] and an
//! optional source.

use std::fmt;

use crate::headers::HeaderError;
use crate::proto::{ProtoError, ServerError};
use crate::subject::SubjectError;

/// A specialised `Result` for nats-actix operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in broad strokes. Match on this; the [`Error`]'s source
/// carries the details.
///
/// # Examples
///
/// ```
/// use nats_actix::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::TimedOut);
/// assert_eq!(err.kind(), ErrorKind::TimedOut);
/// assert_eq!(err.to_string(), "timed out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O error on the socket.
    Io,
    /// A TLS configuration or handshake error.
    Tls,
    /// The server sent bytes that break the protocol, or exceeded a parser
    /// limit.
    Protocol,
    /// The server sent `-ERR`; the source is a [`ServerError`].
    Server,
    /// The server rejected the credentials.
    Authentication,
    /// The server refused a publish or subscribe on permission grounds.
    AuthorizationViolation,
    /// An operation did not complete in time.
    TimedOut,
    /// No connection could be made.
    NotConnected,
    /// The connection was lost while the operation was in flight.
    Disconnected,
    /// The client is closed (or draining) and takes no new operations.
    Closed,
    /// A request found no subscriber (status 503).
    NoResponders,
    /// The payload (with headers) exceeds the server's `max_payload`.
    MaxPayloadExceeded,
    /// An invalid subject, reply subject or queue group name.
    InvalidSubject,
    /// An invalid header name, value or header block.
    InvalidHeader,
    /// An invalid option or argument.
    InvalidArgument,
    /// A subscription's pending limits were exceeded and messages dropped.
    SlowConsumer,
    /// An actor's mailbox is closed or full.
    MailboxClosed,
    /// A bounded buffer is full.
    BufferFull,
    /// The reconnect attempts are exhausted.
    MaxReconnects,
    /// A payload failed to encode or decode with a codec.
    Codec,
    /// A message from the server was well framed but its content was not
    /// (a subject that is not UTF-8, a header block without `NATS/1.0`):
    /// it was dropped and counted, and the connection stays up.
    MalformedMessage,
    /// The JetStream API answered with an error; the source is a
    /// [`jetstream::ApiError`](crate::jetstream::ApiError) with the
    /// server's `err_code`.
    JetStream,
    /// A KV key (or the revision asked for) does not exist, or was deleted.
    KeyNotFound,
    /// A KV create found the key already holding a value.
    KeyExists,
    /// An invalid KV key or bucket name, or object-store bucket name.
    InvalidKey,
    /// A KV or object-store bucket does not exist.
    BucketNotFound,
    /// An object does not exist (or was deleted).
    ObjectNotFound,
    /// An object's bytes do not match its SHA-256 digest.
    DigestMismatch,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "i/o error",
            ErrorKind::Tls => "tls error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Server => "server error",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::AuthorizationViolation => "authorization violation",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::NotConnected => "not connected",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Closed => "connection closed",
            ErrorKind::NoResponders => "no responders",
            ErrorKind::MaxPayloadExceeded => "maximum payload exceeded",
            ErrorKind::InvalidSubject => "invalid subject",
            ErrorKind::InvalidHeader => "invalid header",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::SlowConsumer => "slow consumer",
            ErrorKind::MailboxClosed => "mailbox closed",
            ErrorKind::BufferFull => "buffer full",
            ErrorKind::MaxReconnects => "maximum reconnect attempts exceeded",
            ErrorKind::Codec => "codec error",
            ErrorKind::MalformedMessage => "malformed message",
            ErrorKind::JetStream => "jetstream error",
            ErrorKind::KeyNotFound => "key not found",
            ErrorKind::KeyExists => "key exists",
            ErrorKind::InvalidKey => "invalid key",
            ErrorKind::BucketNotFound => "bucket not found",
            ErrorKind::ObjectNotFound => "object not found",
            ErrorKind::DigestMismatch => "digest mismatch",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of nats-actix: a kind plus an optional underlying cause.
///
/// # Examples
///
/// ```
/// use nats_actix::{Error, ErrorKind};
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
/// let err = Error::with_source(ErrorKind::Io, io);
/// assert_eq!(err.kind(), ErrorKind::Io);
/// assert_eq!(err.to_string(), "i/o error: reset");
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with no further detail.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = nats_actix::Error::new(nats_actix::ErrorKind::Closed);
    /// assert!(std::error::Error::source(&e).is_none());
    /// ```
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, source: None }
    }

    /// An error of `kind` caused by `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::{Error, ErrorKind};
    /// let e = Error::with_source(ErrorKind::InvalidArgument, "bad port");
    /// assert_eq!(e.to_string(), "invalid argument: bad port");
    /// ```
    pub fn with_source<E>(kind: ErrorKind, source: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        Error {
            kind,
            source: Some(std::sync::Arc::from(source.into())),
        }
    }

    /// The kind of error.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::NoResponders).kind(), ErrorKind::NoResponders);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The server's `-ERR`, when this error came from one.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::proto::{ServerError, ServerErrorKind};
    /// let e: nats_actix::Error = ServerError::parse("'Stale Connection'").into();
    /// assert_eq!(e.server_error().map(|s| s.kind()), Some(ServerErrorKind::StaleConnection));
    /// ```
    pub fn server_error(&self) -> Option<&ServerError> {
        self.source.as_ref()?.downcast_ref::<ServerError>()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {}", self.kind, source),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            _ => ErrorKind::Io,
        };
        Error::with_source(kind, e)
    }
}

impl From<ProtoError> for Error {
    fn from(e: ProtoError) -> Self {
        match e {
            ProtoError::Io(io) => Error::from(io),
            ProtoError::Header(h) => Error::with_source(ErrorKind::InvalidHeader, h),
            ProtoError::Subject(s) => Error::with_source(ErrorKind::InvalidSubject, s),
            other => Error::with_source(ErrorKind::Protocol, other),
        }
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        let kind = e.kind().error_kind();
        Error::with_source(kind, e)
    }
}

impl From<SubjectError> for Error {
    fn from(e: SubjectError) -> Self {
        Error::with_source(ErrorKind::InvalidSubject, e)
    }
}

impl From<HeaderError> for Error {
    fn from(e: HeaderError) -> Self {
        Error::with_source(ErrorKind::InvalidHeader, e)
    }
}

impl From<actix::MailboxError> for Error {
    fn from(e: actix::MailboxError) -> Self {
        match e {
            actix::MailboxError::Timeout => Error::with_source(ErrorKind::TimedOut, e),
            actix::MailboxError::Closed => Error::with_source(ErrorKind::MailboxClosed, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_with_and_without_source() {
        assert_eq!(
            Error::new(ErrorKind::Closed).to_string(),
            "connection closed"
        );
        let e = Error::with_source(ErrorKind::Protocol, ProtoError::ControlLineTooLong);
        assert!(e.to_string().starts_with("protocol error: "));
        assert!(e.source().is_some());
    }

    #[test]
    fn conversions_pick_the_kind() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "t");
        assert_eq!(Error::from(io).kind(), ErrorKind::TimedOut);
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "p");
        assert_eq!(Error::from(io).kind(), ErrorKind::Io);
        assert_eq!(
            Error::from(SubjectError::Empty).kind(),
            ErrorKind::InvalidSubject
        );
        assert_eq!(
            Error::from(HeaderError::InvalidName).kind(),
            ErrorKind::InvalidHeader
        );
        assert_eq!(
            Error::from(actix::MailboxError::Closed).kind(),
            ErrorKind::MailboxClosed
        );
        assert_eq!(
            Error::from(actix::MailboxError::Timeout).kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(
            Error::from(ProtoError::UnknownOp).kind(),
            ErrorKind::Protocol
        );
        let e = Error::from(ServerError::parse("'Authorization Violation'"));
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.server_error().is_some());
        let e = Error::from(ServerError::parse(
            "'Permissions Violation for Publish to \"x\"'",
        ));
        assert_eq!(e.kind(), ErrorKind::AuthorizationViolation);
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }
}
