//! What the server sends, and the resumable parser that reads it.

use bytes::{Buf, Bytes, BytesMut};

use super::{ProtoError, ServerError, ServerInfo};
use crate::headers::HeaderMap;
use crate::subject::Subject;

/// Caps that keep the parser's memory bounded whatever the server sends.
///
/// # Examples
///
/// ```
/// use nats_actix::proto::Limits;
/// let limits = Limits::default().max_control_line(4096).max_payload(8 << 20);
/// assert_eq!(limits.max_control_line, 4096);
/// assert_eq!(Limits::default().max_payload, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest control line accepted, without its CRLF (64 KiB by
    /// default). A longer line is [`ProtoError::ControlLineTooLong`].
    pub max_control_line: usize,
    /// The largest payload (headers included) a `MSG`/`HMSG` may announce
    /// (64 MiB by default, the largest nats-server allows). A larger one is
    /// [`ProtoError::PayloadTooLarge`].
    pub max_payload: usize,
    /// Frames (control line and body) of at most this many bytes are
    /// copied out of the read buffer into an allocation of their own
    /// (8 KiB by default); larger ones are zero-copy slices of it. A
    /// retained small message thus holds its own bytes, not the whole
    /// read chunk it arrived in, so the memory held by pending messages
    /// stays within a small factor (read chunk / threshold, 8 with the
    /// connection's 64 KiB reads) of what the pending limits count.
    /// `0` makes every frame zero-copy.
    pub copy_below: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
            copy_below: 8 * 1024,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_control_line`].
    pub fn max_control_line(mut self, bytes: usize) -> Self {
        self.max_control_line = bytes;
        self
    }

    /// Sets [`Limits::copy_below`].
    pub fn copy_below(mut self, bytes: usize) -> Self {
        self.copy_below = bytes;
        self
    }

    /// Sets [`Limits::max_payload`].
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }
}

/// An operation received from the server.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::{Limits, ServerOp};
/// let mut buf = BytesMut::from(&b"PING\r\nPONG\r\n"[..]);
/// assert_eq!(ServerOp::parse(&mut buf, &Limits::default()).unwrap(), Some(ServerOp::Ping));
/// assert_eq!(ServerOp::parse(&mut buf, &Limits::default()).unwrap(), Some(ServerOp::Pong));
/// assert_eq!(ServerOp::parse(&mut buf, &Limits::default()).unwrap(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(Box<ServerInfo>),
    /// `MSG` or, with headers, `HMSG`.
    Msg {
        /// The subscription id the message is for.
        sid: u64,
        /// The subject it was published to.
        subject: Subject,
        /// The reply subject.
        reply: Option<Subject>,
        /// Headers (`HMSG` only), including any status line.
        headers: Option<HeaderMap>,
        /// The payload: a zero-copy slice of the read buffer.
        payload: Bytes,
    },
    /// `PING`: answer with `PONG`.
    Ping,
    /// `PONG`: the answer to our `PING`.
    Pong,
    /// `+OK` (only in verbose mode).
    Ok,
    /// `-ERR '...'`.
    Err(ServerError),
    /// A `MSG`/`HMSG` whose framing is sound (its lengths and CRLFs hold)
    /// but whose **content** is not: a subject or reply that is not UTF-8,
    /// or a header block that does not start with `NATS/1.0`. nats-server
    /// forwards such bytes from any publisher, so they say nothing about
    /// the health of the connection: the whole frame has been consumed and
    /// the stream goes on. The client drops the message, counts it and
    /// reports it; the raw bytes are kept here for whoever wants them.
    Malformed {
        /// The subscription id the message was for.
        sid: u64,
        /// Why it is malformed.
        error: ContentError,
        /// The raw subject bytes.
        subject: Bytes,
        /// The raw header block and payload (headers first, as sent).
        raw: Bytes,
    },
}

impl ServerOp {
    /// Parses one op from the front of `buf` with a throwaway [`Parser`].
    ///
    /// Prefer a long-lived [`Parser`] on a stream: it remembers how far it
    /// has scanned, so a half-arrived payload is not rescanned.
    ///
    /// # Errors
    ///
    /// See [`Parser::parse`].
    pub fn parse(buf: &mut BytesMut, limits: &Limits) -> Result<Option<ServerOp>, ProtoError> {
        Parser::new(*limits).parse(buf)
    }
}

/// What is wrong with a [`ServerOp::Malformed`] message.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::{ContentError, Parser, ServerOp};
/// let mut buf = BytesMut::from(&b"MSG bad.\xff 1 2\r\nhi\r\nPING\r\n"[..]);
/// let mut parser = Parser::default();
/// let op = parser.parse(&mut buf).unwrap().unwrap();
/// assert!(matches!(op, ServerOp::Malformed { error: ContentError::Subject(_), .. }));
/// assert_eq!(parser.parse(&mut buf).unwrap(), Some(ServerOp::Ping));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentError {
    /// The subject is not a valid subject (not UTF-8).
    Subject(crate::subject::SubjectError),
    /// The reply subject is not valid (not UTF-8).
    Reply(crate::subject::SubjectError),
    /// The header block is malformed (for example, no `NATS/1.0` line).
    Header(crate::headers::HeaderError),
}

impl std::fmt::Display for ContentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentError::Subject(e) => write!(f, "invalid subject: {e}"),
            ContentError::Reply(e) => write!(f, "invalid reply subject: {e}"),
            ContentError::Header(e) => write!(f, "invalid headers: {e}"),
        }
    }
}

impl std::error::Error for ContentError {}

#[derive(Debug, Clone, Copy)]
enum Op {
    Msg,
    Hmsg,
    Ping,
    Pong,
    Info,
    Ok,
    Err,
}

#[derive(Debug, Clone, Copy)]
struct PendingMsg {
    /// Bytes of the control line, line end included.
    line_len: usize,
    sid: u64,
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    /// `None` for `MSG`.
    hdr_len: Option<usize>,
    total: usize,
}

/// A resumable parser for the server-to-client protocol.
///
/// Feed it the read buffer after every read; it consumes whole ops from the
/// front and leaves partial ones in place. It remembers how far it has
/// looked for a line end and, once a `MSG` control line is parsed, waits
/// for the payload without looking at it again.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::{Limits, Parser, ServerOp};
/// let mut parser = Parser::new(Limits::default());
/// let mut buf = BytesMut::from(&b"MSG a 1 5\r\nhel"[..]);
/// assert_eq!(parser.parse(&mut buf).unwrap(), None); // need more bytes
/// buf.extend_from_slice(b"lo\r\n");
/// let op = parser.parse(&mut buf).unwrap().unwrap();
/// assert!(matches!(op, ServerOp::Msg { sid: 1, .. }));
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    limits: Limits,
    scanned: usize,
    pending: Option<PendingMsg>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(Limits::default())
    }
}

impl Parser {
    /// A parser with the given caps.
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            scanned: 0,
            pending: None,
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets any partial op, for a fresh connection.
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.pending = None;
    }

    /// Parses the next op from the front of `buf`, consuming its bytes.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of an op (nothing is
    /// consumed; call again after the next read).
    ///
    /// # Errors
    ///
    /// A [`ProtoError`] when the bytes are not valid protocol: an unknown
    /// op (detected from the first bytes, without waiting for a line end),
    /// bad arguments, a line or payload over the [`Limits`], a non-UTF-8
    /// subject, malformed headers, or a payload not followed by CRLF. The
    /// stream cannot be trusted after an error.
    #[inline]
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
        let result = self.parse_inner(buf);
        if result.is_err() {
            self.reset();
        }
        result
    }

    #[inline(always)]
    fn parse_inner(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
        if let Some(pending) = self.pending {
            return self.finish_msg(buf, pending);
        }
        let max = self.limits.max_control_line;
        let window = buf.len().min(max.saturating_add(2));
        let nl = if self.scanned < window {
            memchr::memchr(b'\n', &buf[self.scanned..window]).map(|i| i + self.scanned)
        } else {
            None
        };
        let Some(nl) = nl else {
            if self.scanned < 6 {
                // Reject unknown ops from their first bytes.
                classify(&buf[..window], false)?;
            }
            if buf.len() > max.saturating_add(1) {
                return Err(ProtoError::ControlLineTooLong);
            }
            self.scanned = window;
            return Ok(None);
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if end > max {
            return Err(ProtoError::ControlLineTooLong);
        }
        self.scanned = 0;
        let line = &buf[..end];
        let Some((op, kw)) = classify(line, true)? else {
            return Err(ProtoError::UnknownOp);
        };
        let op = match op {
            Op::Msg | Op::Hmsg => {
                let pending = parse_msg_args(line, kw, matches!(op, Op::Hmsg), nl + 1)?;
                if pending.total > self.limits.max_payload {
                    return Err(ProtoError::PayloadTooLarge {
                        size: pending.total as u64,
                        limit: self.limits.max_payload,
                    });
                }
                return self.finish_msg(buf, pending);
            }
            Op::Ping => ServerOp::Ping,
            Op::Pong => ServerOp::Pong,
            Op::Ok => ServerOp::Ok,
            Op::Info => {
                let json = trim(&line[kw..]);
                let info = ServerInfo::from_json(json)
                    .map_err(|e| ProtoError::InvalidInfo(e.to_string()))?;
                ServerOp::Info(Box::new(info))
            }
            Op::Err => {
                let text = String::from_utf8_lossy(trim(&line[kw..]));
                ServerOp::Err(ServerError::parse(&text))
            }
        };
        buf.advance(nl + 1);
        Ok(Some(op))
    }

    #[inline(always)]
    fn finish_msg(
        &mut self,
        buf: &mut BytesMut,
        p: PendingMsg,
    ) -> Result<Option<ServerOp>, ProtoError> {
        let need = p.line_len + p.total + 2;
        if buf.len() < need {
            buf.reserve(need - buf.len());
            self.pending = Some(p);
            return Ok(None);
        }
        self.pending = None;
        if buf[need - 2] != b'\r' || buf[need - 1] != b'\n' {
            return Err(ProtoError::MissingPayloadTerminator);
        }
        // Freeze the whole frame and carve the subject, reply and payload
        // out of it: each is one reference-count increment, with no copy.
        // A content error (not UTF-8, a bad header block) spoils only this
        // frame, which is consumed whole: the stream goes on.
        let body = p.line_len;
        let frame = if need <= self.limits.copy_below {
            let frame = Bytes::copy_from_slice(&buf[..need]);
            buf.advance(need);
            frame
        } else {
            buf.split_to(need).freeze()
        };
        let (s0, s1) = p.subject;
        let malformed = |error: ContentError| {
            Ok(Some(ServerOp::Malformed {
                sid: p.sid,
                error,
                subject: frame.slice(s0..s1),
                raw: frame.slice(body..need - 2),
            }))
        };
        let subject = match Subject::from_utf8(frame.slice(s0..s1)) {
            Ok(s) => s,
            Err(e) => return malformed(ContentError::Subject(e)),
        };
        let reply = match p.reply {
            Some((r0, r1)) => match Subject::from_utf8(frame.slice(r0..r1)) {
                Ok(s) => Some(s),
                Err(e) => return malformed(ContentError::Reply(e)),
            },
            None => None,
        };
        let (headers, payload_start) = match p.hdr_len {
            Some(h) => match HeaderMap::decode(&frame[body..body + h]) {
                Ok(headers) => (Some(headers), body + h),
                Err(e) => return malformed(ContentError::Header(e)),
            },
            None => (None, body),
        };
        let payload = frame.slice(payload_start..need - 2);
        Ok(Some(ServerOp::Msg {
            sid: p.sid,
            subject,
            reply,
            headers,
            payload,
        }))
    }
}

/// Identifies the op at the front of `line`. With `complete == false`,
/// `line` may be a prefix of a line and `Ok(None)` means "cannot tell yet".
/// Returns the op and the length of its keyword.
fn classify(line: &[u8], complete: bool) -> Result<Option<(Op, usize)>, ProtoError> {
    // Fast path for the common case.
    if let [b'M', b'S', b'G', b' ', ..] = line {
        return Ok(Some((Op::Msg, 3)));
    }
    let Some(&first) = line.first() else {
        return if complete {
            Err(ProtoError::UnknownOp)
        } else {
            Ok(None)
        };
    };
    let (op, kw, needs_sep): (Op, &[u8], bool) = match first {
        b'M' | b'm' => (Op::Msg, b"MSG", true),
        b'H' | b'h' => (Op::Hmsg, b"HMSG", true),
        b'I' | b'i' => (Op::Info, b"INFO", true),
        b'+' => (Op::Ok, b"+OK", false),
        b'-' => (Op::Err, b"-ERR", true),
        b'P' | b'p' => match line.get(1) {
            Some(b'I' | b'i') => (Op::Ping, b"PING", false),
            Some(b'O' | b'o') => (Op::Pong, b"PONG", false),
            Some(_) => return Err(ProtoError::UnknownOp),
            None if complete => return Err(ProtoError::UnknownOp),
            None => return Ok(None),
        },
        _ => return Err(ProtoError::UnknownOp),
    };
    let n = line.len().min(kw.len());
    if !line[..n].eq_ignore_ascii_case(&kw[..n]) {
        return Err(ProtoError::UnknownOp);
    }
    if n < kw.len() {
        return if complete {
            Err(ProtoError::UnknownOp)
        } else {
            Ok(None)
        };
    }
    if needs_sep {
        match line.get(kw.len()) {
            Some(b' ' | b'\t') => {}
            // `-ERR` with no text, or a bare `\r` left in a partial line.
            None if complete && matches!(op, Op::Err) => {}
            Some(b'\r') if !complete => {}
            None if !complete => return Ok(None),
            None => return Err(ProtoError::InvalidArguments(op_name(op))),
            Some(_) => return Err(ProtoError::UnknownOp),
        }
    }
    Ok(Some((op, kw.len())))
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Msg => "MSG",
        Op::Hmsg => "HMSG",
        Op::Ping => "PING",
        Op::Pong => "PONG",
        Op::Info => "INFO",
        Op::Ok => "+OK",
        Op::Err => "-ERR",
    }
}

fn parse_msg_args(
    line: &[u8],
    start: usize,
    hmsg: bool,
    line_len: usize,
) -> Result<PendingMsg, ProtoError> {
    let name = if hmsg { "HMSG" } else { "MSG" };
    let bad = || ProtoError::InvalidArguments(name);
    let mut args = [(0usize, 0usize); 5];
    let mut count = 0;
    let mut i = start;
    let len = line.len();
    while i < len {
        while i < len && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if i == len {
            break;
        }
        let s = i;
        while i < len && line[i] != b' ' && line[i] != b'\t' {
            i += 1;
        }
        if count == args.len() {
            return Err(bad());
        }
        args[count] = (s, i);
        count += 1;
    }
    let arg = |k: usize| &line[args[k].0..args[k].1];
    let (reply, hdr_len, total) = match (hmsg, count) {
        (false, 3) => (None, None, num(arg(2)).ok_or_else(bad)?),
        (false, 4) => (Some(args[2]), None, num(arg(3)).ok_or_else(bad)?),
        (true, 4) => (
            None,
            Some(num(arg(2)).ok_or_else(bad)?),
            num(arg(3)).ok_or_else(bad)?,
        ),
        (true, 5) => (
            Some(args[2]),
            Some(num(arg(3)).ok_or_else(bad)?),
            num(arg(4)).ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    };
    let sid = num(arg(1)).ok_or_else(bad)?;
    if let Some(h) = hdr_len
        && h > total
    {
        return Err(ProtoError::HeaderLengthExceedsTotal);
    }
    let total = usize::try_from(total).map_err(|_| bad())?;
    Ok(PendingMsg {
        line_len,
        sid,
        subject: args[0],
        reply,
        hdr_len: hdr_len.map(|h| h as usize),
        total,
    })
}

/// Parses an unsigned decimal; `None` when empty, non-numeric or
/// overflowing.
fn num(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}
