//! What the client sends.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::ProtoError;
use crate::headers::HeaderMap;
use crate::subject::Subject;

/// The options a client announces in `CONNECT`.
///
/// `Debug` redacts secrets (`pass`, `auth_token`, `sig`, `jwt`), so a
/// `CONNECT` can be traced safely.
///
/// # Examples
///
/// ```
/// use nats_actix::proto::ConnectInfo;
/// let mut info = ConnectInfo::default();
/// info.pass = Some("hunter2".into());
/// assert!(info.headers && info.no_responders);
/// assert!(!format!("{info:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConnectInfo {
    /// Ask the server for `+OK` after every op (we never do).
    pub verbose: bool,
    /// Ask the server for strict subject checks.
    pub pedantic: bool,
    /// Whether the client requires TLS.
    pub tls_required: bool,
    /// A client name shown in monitoring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The client's language.
    pub lang: String,
    /// The client's version.
    pub version: String,
    /// The protocol version (1: dynamic reconfiguration).
    pub protocol: u8,
    /// Whether messages the client publishes come back to its own
    /// subscriptions.
    pub echo: bool,
    /// Whether the client supports headers.
    pub headers: bool,
    /// Whether the server should answer requests nobody listens to with a
    /// 503 status.
    pub no_responders: bool,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Public nkey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// The server nonce signed with the nkey seed, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl Default for ConnectInfo {
    fn default() -> Self {
        ConnectInfo {
            verbose: false,
            pedantic: false,
            tls_required: false,
            name: None,
            lang: "rust".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: 1,
            echo: true,
            headers: true,
            no_responders: true,
            user: None,
            pass: None,
            auth_token: None,
            jwt: None,
            nkey: None,
            sig: None,
        }
    }
}

impl fmt::Debug for ConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redact(v: &Option<String>) -> Option<&'static str> {
            v.as_ref().map(|_| "<redacted>")
        }
        f.debug_struct("ConnectInfo")
            .field("verbose", &self.verbose)
            .field("pedantic", &self.pedantic)
            .field("tls_required", &self.tls_required)
            .field("name", &self.name)
            .field("lang", &self.lang)
            .field("version", &self.version)
            .field("protocol", &self.protocol)
            .field("echo", &self.echo)
            .field("headers", &self.headers)
            .field("no_responders", &self.no_responders)
            .field("user", &self.user)
            .field("pass", &redact(&self.pass))
            .field("auth_token", &redact(&self.auth_token))
            .field("jwt", &redact(&self.jwt))
            .field("nkey", &self.nkey)
            .field("sig", &redact(&self.sig))
            .finish()
    }
}

/// An operation the client sends to the server.
///
/// Encoding trusts its inputs: subjects must already be validated (the
/// client does it once, when the user hands them over). Headers are
/// validated, and nothing is written when they are invalid.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::ClientOp;
/// let mut buf = BytesMut::new();
/// ClientOp::Subscribe { sid: 7, subject: "foo.*".into(), queue_group: Some("q".into()) }
///     .encode(&mut buf)
///     .unwrap();
/// ClientOp::Unsubscribe { sid: 7, max: Some(3) }.encode(&mut buf).unwrap();
/// ClientOp::Ping.encode(&mut buf).unwrap();
/// assert_eq!(&buf[..], b"SUB foo.* q 7\r\nUNSUB 7 3\r\nPING\r\n");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    /// `CONNECT {json}`.
    Connect(Box<ConnectInfo>),
    /// `PUB`, or `HPUB` when there are headers.
    Publish {
        /// The subject.
        subject: Subject,
        /// The reply subject.
        reply: Option<Subject>,
        /// Headers; `Some` makes this an `HPUB`.
        headers: Option<HeaderMap>,
        /// The payload.
        payload: Bytes,
    },
    /// `SUB subject [queue] sid`.
    Subscribe {
        /// The subscription id.
        sid: u64,
        /// The subject, wildcards allowed.
        subject: Subject,
        /// The queue group.
        queue_group: Option<Subject>,
    },
    /// `UNSUB sid [max]`.
    Unsubscribe {
        /// The subscription id.
        sid: u64,
        /// Unsubscribe after this many messages in all.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

impl ClientOp {
    /// Appends the wire form of this op to `dst`.
    ///
    /// # Errors
    ///
    /// [`ProtoError::Header`] for invalid headers, [`ProtoError::Json`] if
    /// `CONNECT` cannot be serialised. Nothing is written on error.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), ProtoError> {
        match self {
            ClientOp::Connect(info) => {
                let json = serde_json::to_vec(info).map_err(|e| ProtoError::Json(e.to_string()))?;
                dst.reserve(json.len() + 10);
                dst.put_slice(b"CONNECT ");
                dst.put_slice(&json);
                dst.put_slice(b"\r\n");
            }
            ClientOp::Publish {
                subject,
                reply,
                headers,
                payload,
            } => encode_pub(
                dst,
                subject.as_bytes(),
                reply.as_ref().map(|r| &r.as_bytes()[..]),
                headers.as_ref(),
                payload,
            )?,
            ClientOp::Subscribe {
                sid,
                subject,
                queue_group,
            } => {
                dst.reserve(subject.len() + 32 + queue_group.as_ref().map_or(0, |q| q.len()));
                dst.put_slice(b"SUB ");
                dst.put_slice(subject.as_bytes());
                if let Some(q) = queue_group {
                    dst.put_u8(b' ');
                    dst.put_slice(q.as_bytes());
                }
                dst.put_u8(b' ');
                write_u64(dst, *sid);
                dst.put_slice(b"\r\n");
            }
            ClientOp::Unsubscribe { sid, max } => {
                dst.put_slice(b"UNSUB ");
                write_u64(dst, *sid);
                if let Some(max) = max {
                    dst.put_u8(b' ');
                    write_u64(dst, *max);
                }
                dst.put_slice(b"\r\n");
            }
            ClientOp::Ping => dst.put_slice(b"PING\r\n"),
            ClientOp::Pong => dst.put_slice(b"PONG\r\n"),
        }
        Ok(())
    }
}

/// Appends a `PUB` (no headers) or `HPUB` frame to `dst`, without building a
/// [`ClientOp`]. This is the publish hot path.
///
/// # Errors
///
/// [`ProtoError::Header`] for invalid headers; nothing is written then.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::headers::HeaderMap;
/// use nats_actix::proto::encode_pub;
/// let mut headers = HeaderMap::new();
/// headers.insert("A", "1");
/// let mut buf = BytesMut::new();
/// encode_pub(&mut buf, b"foo", Some(b"r"), Some(&headers), b"hi").unwrap();
/// assert_eq!(&buf[..], b"HPUB foo r 18 20\r\nNATS/1.0\r\nA: 1\r\n\r\nhi\r\n");
/// ```
pub fn encode_pub(
    dst: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<(), ProtoError> {
    let headers = validated(headers)?;
    encode_pub_validated(dst, subject, reply, headers, payload);
    Ok(())
}

/// Appends everything of a `PUB`/`HPUB` frame but the payload and its
/// trailing CRLF (for writers that send large payloads by reference),
/// reserving `extra` more bytes.
///
/// # Errors
///
/// [`ProtoError::Header`] for invalid headers; nothing is written then.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// let mut buf = BytesMut::new();
/// nats_actix::proto::encode_pub_head(&mut buf, b"foo", None, None, 5, 0).unwrap();
/// assert_eq!(&buf[..], b"PUB foo 5\r\n");
/// ```
pub fn encode_pub_head(
    dst: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&HeaderMap>,
    payload_len: usize,
    extra: usize,
) -> Result<(), ProtoError> {
    let headers = validated(headers)?;
    encode_pub_head_validated(dst, subject, reply, headers, payload_len, extra);
    Ok(())
}

/// Validates headers once and pairs them with their encoded length.
fn validated(headers: Option<&HeaderMap>) -> Result<Option<(&HeaderMap, usize)>, ProtoError> {
    match headers {
        Some(h) => {
            h.validate()?;
            Ok(Some((h, h.encoded_len())))
        }
        None => Ok(None),
    }
}

/// [`encode_pub`] for headers already validated, with their encoded length.
pub(crate) fn encode_pub_validated(
    dst: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<(&HeaderMap, usize)>,
    payload: &[u8],
) {
    encode_pub_head_validated(
        dst,
        subject,
        reply,
        headers,
        payload.len(),
        payload.len() + 2,
    );
    dst.put_slice(payload);
    dst.put_slice(b"\r\n");
}

/// [`encode_pub_head`] for headers already validated, with their encoded
/// length.
pub(crate) fn encode_pub_head_validated(
    dst: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<(&HeaderMap, usize)>,
    payload_len: usize,
    extra: usize,
) {
    let hlen = headers.map_or(0, |(_, len)| len);
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    dst.reserve(5 + subject.len() + reply_len + 48 + hlen + extra);
    dst.put_slice(if headers.is_some() { b"HPUB " } else { b"PUB " });
    dst.put_slice(subject);
    if let Some(r) = reply {
        dst.put_u8(b' ');
        dst.put_slice(r);
    }
    dst.put_u8(b' ');
    if headers.is_some() {
        write_u64(dst, hlen as u64);
        dst.put_u8(b' ');
    }
    write_u64(dst, (hlen + payload_len) as u64);
    dst.put_slice(b"\r\n");
    if let Some((h, len)) = headers {
        h.encode_validated(dst, len);
    }
}

/// Appends the decimal form of `n` to `dst`, with no allocation.
///
/// # Examples
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// nats_actix::proto::write_u64(&mut buf, 1024);
/// assert_eq!(&buf[..], b"1024");
/// ```
pub fn write_u64(dst: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&tmp[i..]);
}
