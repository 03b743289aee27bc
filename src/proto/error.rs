//! Protocol errors (ours) and server errors (`-ERR`, theirs).

use std::fmt;

use crate::error::ErrorKind;
use crate::headers::HeaderError;
use crate::subject::SubjectError;

/// Why bytes from the server could not be decoded, or an op could not be
/// encoded.
///
/// Every variant but [`ProtoError::Io`] means the stream is no longer
/// trustworthy: the connection must be torn down.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::{Limits, Parser, ProtoError};
/// let mut buf = BytesMut::from(&b"ZOO\r\n"[..]);
/// let err = Parser::new(Limits::default()).parse(&mut buf).unwrap_err();
/// assert!(matches!(err, ProtoError::UnknownOp));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProtoError {
    /// The underlying transport failed (only from the tokio-util codec).
    Io(std::io::Error),
    /// The line does not start with an operation we know.
    UnknownOp,
    /// A control line grew past [`Limits::max_control_line`](super::Limits)
    /// without a line end.
    ControlLineTooLong,
    /// The arguments of an operation are missing, extra or malformed.
    InvalidArguments(&'static str),
    /// The server announced a payload larger than
    /// [`Limits::max_payload`](super::Limits).
    PayloadTooLarge {
        /// The announced size.
        size: u64,
        /// The configured ceiling.
        limit: usize,
    },
    /// An `HMSG` whose header length exceeds its total length.
    HeaderLengthExceedsTotal,
    /// A payload not followed by `\r\n`.
    MissingPayloadTerminator,
    /// The `INFO` JSON could not be parsed.
    InvalidInfo(String),
    /// A message header block is malformed, or invalid for encoding.
    Header(HeaderError),
    /// A subject is invalid (for example, not UTF-8).
    Subject(SubjectError),
    /// `CONNECT` options could not be serialised.
    Json(String),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Io(e) => write!(f, "i/o error: {e}"),
            ProtoError::UnknownOp => f.write_str("unknown protocol operation"),
            ProtoError::ControlLineTooLong => f.write_str("control line too long"),
            ProtoError::InvalidArguments(op) => write!(f, "invalid arguments for {op}"),
            ProtoError::PayloadTooLarge { size, limit } => {
                write!(
                    f,
                    "announced payload of {size} bytes exceeds the limit of {limit}"
                )
            }
            ProtoError::HeaderLengthExceedsTotal => {
                f.write_str("HMSG header length exceeds total length")
            }
            ProtoError::MissingPayloadTerminator => f.write_str("payload not followed by CRLF"),
            ProtoError::InvalidInfo(e) => write!(f, "invalid INFO: {e}"),
            ProtoError::Header(e) => write!(f, "invalid headers: {e}"),
            ProtoError::Subject(e) => write!(f, "invalid subject: {e}"),
            ProtoError::Json(e) => write!(f, "cannot serialise CONNECT: {e}"),
        }
    }
}

impl std::error::Error for ProtoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtoError::Io(e) => Some(e),
            ProtoError::Header(e) => Some(e),
            ProtoError::Subject(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ProtoError {
    fn from(e: std::io::Error) -> Self {
        ProtoError::Io(e)
    }
}

impl From<HeaderError> for ProtoError {
    fn from(e: HeaderError) -> Self {
        ProtoError::Header(e)
    }
}

impl From<SubjectError> for ProtoError {
    fn from(e: SubjectError) -> Self {
        ProtoError::Subject(e)
    }
}

/// The kind of a server `-ERR`, matched case-insensitively with quotes
/// stripped (the server's casing varies between versions).
///
/// # Examples
///
/// ```
/// use nats_actix::proto::{ServerError, ServerErrorKind};
/// let e = ServerError::parse("'maximum control line exceeded'");
/// assert_eq!(e.kind(), ServerErrorKind::MaxControlLineExceeded);
/// assert!(e.kind().closes_connection());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// `Unknown Protocol Operation`.
    UnknownProtocolOperation,
    /// `Authorization Violation`: bad or missing credentials.
    AuthorizationViolation,
    /// `Authentication Timeout`.
    AuthenticationTimeout,
    /// `User Authentication Expired`.
    UserAuthenticationExpired,
    /// `Account Authentication Expired`.
    AccountAuthenticationExpired,
    /// `invalid client protocol`.
    InvalidClientProtocol,
    /// `maximum control line exceeded`.
    MaxControlLineExceeded,
    /// `Secure Connection - TLS Required`.
    SecureConnectionTlsRequired,
    /// `Stale Connection`: PINGs went unanswered.
    StaleConnection,
    /// `maximum connections exceeded`.
    MaxConnectionsExceeded,
    /// `Maximum Payload Violation`.
    MaxPayloadViolation,
    /// `no responders requires headers support`.
    NoRespondersRequiresHeaders,
    /// `maximum subscriptions exceeded`.
    MaxSubscriptionsExceeded,
    /// `Permissions Violation for Publish to "<subject>"`.
    PublishPermissionViolation,
    /// `Permissions Violation for Subscription to "<subject>"`.
    SubscriptionPermissionViolation,
    /// `Invalid Subject` or `Invalid Publish Subject`.
    InvalidSubject,
    /// Any text we do not recognise.
    Other,
}

impl ServerErrorKind {
    /// Whether the server closes the connection after sending this error.
    ///
    /// Unknown errors are treated as closing: the client reconnects.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::proto::ServerErrorKind;
    /// assert!(ServerErrorKind::StaleConnection.closes_connection());
    /// assert!(!ServerErrorKind::PublishPermissionViolation.closes_connection());
    /// ```
    pub fn closes_connection(self) -> bool {
        !matches!(
            self,
            ServerErrorKind::MaxSubscriptionsExceeded
                | ServerErrorKind::PublishPermissionViolation
                | ServerErrorKind::SubscriptionPermissionViolation
                | ServerErrorKind::InvalidSubject
        )
    }

    /// The crate-level [`ErrorKind`] this server error maps to.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ErrorKind;
    /// use nats_actix::proto::ServerErrorKind;
    /// assert_eq!(ServerErrorKind::AuthorizationViolation.error_kind(), ErrorKind::Authentication);
    /// ```
    pub fn error_kind(self) -> ErrorKind {
        match self {
            ServerErrorKind::AuthorizationViolation
            | ServerErrorKind::AuthenticationTimeout
            | ServerErrorKind::UserAuthenticationExpired
            | ServerErrorKind::AccountAuthenticationExpired => ErrorKind::Authentication,
            ServerErrorKind::PublishPermissionViolation
            | ServerErrorKind::SubscriptionPermissionViolation => ErrorKind::AuthorizationViolation,
            ServerErrorKind::MaxPayloadViolation => ErrorKind::MaxPayloadExceeded,
            ServerErrorKind::InvalidSubject => ErrorKind::InvalidSubject,
            ServerErrorKind::SecureConnectionTlsRequired => ErrorKind::Tls,
            _ => ErrorKind::Server,
        }
    }
}

/// A `-ERR` sent by the server: its kind and its text (quotes stripped).
///
/// # Examples
///
/// ```
/// use nats_actix::proto::{ServerError, ServerErrorKind};
/// let e = ServerError::parse("'Permissions Violation for Subscription to \"secret.>\"'");
/// assert_eq!(e.kind(), ServerErrorKind::SubscriptionPermissionViolation);
/// assert_eq!(e.subject(), Some("secret.>"));
/// assert!(!e.kind().closes_connection());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    kind: ServerErrorKind,
    message: String,
}

impl ServerError {
    /// Classifies the text that follows `-ERR`.
    pub fn parse(text: &str) -> ServerError {
        let message = text.trim().trim_matches('\'').trim().to_string();
        let lower = message.to_ascii_lowercase();
        let kind = if lower.starts_with("permissions violation for publish") {
            ServerErrorKind::PublishPermissionViolation
        } else if lower.starts_with("permissions violation for subscription") {
            ServerErrorKind::SubscriptionPermissionViolation
        } else {
            match lower.as_str() {
                "unknown protocol operation" => ServerErrorKind::UnknownProtocolOperation,
                "authorization violation" => ServerErrorKind::AuthorizationViolation,
                "authentication timeout" => ServerErrorKind::AuthenticationTimeout,
                "user authentication expired" => ServerErrorKind::UserAuthenticationExpired,
                "account authentication expired" => ServerErrorKind::AccountAuthenticationExpired,
                "invalid client protocol" => ServerErrorKind::InvalidClientProtocol,
                "maximum control line exceeded" => ServerErrorKind::MaxControlLineExceeded,
                "secure connection - tls required" => ServerErrorKind::SecureConnectionTlsRequired,
                "stale connection" => ServerErrorKind::StaleConnection,
                "maximum connections exceeded" => ServerErrorKind::MaxConnectionsExceeded,
                "maximum payload violation" => ServerErrorKind::MaxPayloadViolation,
                "no responders requires headers support" => {
                    ServerErrorKind::NoRespondersRequiresHeaders
                }
                "maximum subscriptions exceeded" => ServerErrorKind::MaxSubscriptionsExceeded,
                "invalid subject" | "invalid publish subject" => ServerErrorKind::InvalidSubject,
                _ => ServerErrorKind::Other,
            }
        };
        ServerError { kind, message }
    }

    /// The classified kind.
    pub fn kind(&self) -> ServerErrorKind {
        self.kind
    }

    /// The server's text, without the surrounding quotes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For permission violations, the subject between the first pair of
    /// double quotes.
    pub fn subject(&self) -> Option<&str> {
        let start = self.message.find('"')? + 1;
        let len = self.message[start..].find('"')?;
        Some(&self.message[start..start + len])
    }

    /// Whether a publish permission violation is about the **reply**
    /// subject (`Permissions Violation for Publish with Reply of "<r>"`):
    /// then [`ServerError::subject`] is that reply subject.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::proto::ServerError;
    /// let e = ServerError::parse("'Permissions Violation for Publish with Reply of \"_INBOX.a.1\"'");
    /// assert!(e.is_reply_denied());
    /// assert_eq!(e.subject(), Some("_INBOX.a.1"));
    /// ```
    pub fn is_reply_denied(&self) -> bool {
        self.message.contains("with Reply of")
    }

    /// For subscription permission violations `using queue "<q>"`, the queue.
    pub fn queue(&self) -> Option<&str> {
        let idx = self.message.find("using queue \"")? + "using queue \"".len();
        let len = self.message[idx..].find('"')?;
        Some(&self.message[idx..idx + len])
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error: {}", self.message)
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_is_classified() {
        let cases = [
            (
                "'Unknown Protocol Operation'",
                ServerErrorKind::UnknownProtocolOperation,
                true,
            ),
            (
                "'Authorization Violation'",
                ServerErrorKind::AuthorizationViolation,
                true,
            ),
            (
                "'Authentication Timeout'",
                ServerErrorKind::AuthenticationTimeout,
                true,
            ),
            (
                "'User Authentication Expired'",
                ServerErrorKind::UserAuthenticationExpired,
                true,
            ),
            (
                "'Account Authentication Expired'",
                ServerErrorKind::AccountAuthenticationExpired,
                true,
            ),
            (
                "'invalid client protocol'",
                ServerErrorKind::InvalidClientProtocol,
                true,
            ),
            (
                "'maximum control line exceeded'",
                ServerErrorKind::MaxControlLineExceeded,
                true,
            ),
            (
                "'Maximum Control Line Exceeded'",
                ServerErrorKind::MaxControlLineExceeded,
                true,
            ),
            (
                "'Secure Connection - TLS Required'",
                ServerErrorKind::SecureConnectionTlsRequired,
                true,
            ),
            ("'Stale Connection'", ServerErrorKind::StaleConnection, true),
            (
                "'maximum connections exceeded'",
                ServerErrorKind::MaxConnectionsExceeded,
                true,
            ),
            (
                "'Maximum Payload Violation'",
                ServerErrorKind::MaxPayloadViolation,
                true,
            ),
            (
                "'no responders requires headers support'",
                ServerErrorKind::NoRespondersRequiresHeaders,
                true,
            ),
            (
                "'maximum subscriptions exceeded'",
                ServerErrorKind::MaxSubscriptionsExceeded,
                false,
            ),
            (
                "'Permissions Violation for Publish to \"foo\"'",
                ServerErrorKind::PublishPermissionViolation,
                false,
            ),
            (
                "'Permissions Violation for Publish with Reply of \"r\"'",
                ServerErrorKind::PublishPermissionViolation,
                false,
            ),
            (
                "'Permissions Violation for Subscription to \"foo\" using queue \"q\"'",
                ServerErrorKind::SubscriptionPermissionViolation,
                false,
            ),
            ("'Invalid Subject'", ServerErrorKind::InvalidSubject, false),
            (
                "'Invalid Publish Subject'",
                ServerErrorKind::InvalidSubject,
                false,
            ),
            ("'something new'", ServerErrorKind::Other, true),
        ];
        for (text, kind, closes) in cases {
            let e = ServerError::parse(text);
            assert_eq!(e.kind(), kind, "{text}");
            assert_eq!(e.kind().closes_connection(), closes, "{text}");
            assert!(!e.message().starts_with('\''));
        }
    }

    #[test]
    fn permission_subject_and_queue() {
        let e = ServerError::parse(
            "'Permissions Violation for Subscription to \"foo.>\" using queue \"workers\"'",
        );
        assert_eq!(e.subject(), Some("foo.>"));
        assert_eq!(e.queue(), Some("workers"));
        assert_eq!(ServerError::parse("'Stale Connection'").subject(), None);
    }
}
