//! NATS message headers.
//!
//! A NATS header block (carried by `HPUB` / `HMSG`) looks like this on the
//! wire:
//!
//! ```text
//! NATS/1.0[ <3-digit status>[ <description>]]\r\n
//! Name: value\r\n
//! ...
//! \r\n
//! ```
//!
//! For example `NATS/1.0 503\r\n\r\n` (no responders),
//! `NATS/1.0 404 No Messages\r\n\r\n`, or
//! `NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n`.
//!
//! [`HeaderMap`] is an ordered multi-map with case-insensitive lookup that
//! keeps the case of the names it stores. Encoding is strict (see
//! [`HeaderMap::validate`]); decoding is tolerant, as other NATS clients are
//! (see [`HeaderMap::decode`]).

use std::fmt;

use bytes::{BufMut, BytesMut};

/// The version line prefix every header block starts with.
const VERSION: &str = "NATS/1.0";
const CRLF: &[u8] = b"\r\n";

/// A NATS status code, carried inline on the header version line.
///
/// ```
/// use nats_actix::headers::StatusCode;
///
/// let code = StatusCode::new(503);
/// assert_eq!(code, StatusCode::NO_RESPONDERS);
/// assert_eq!(code.as_u16(), 503);
/// assert_eq!(code.to_string(), "503");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// `100`: JetStream idle heartbeat or flow-control message.
    pub const IDLE_HEARTBEAT: StatusCode = StatusCode(100);
    /// `200`: OK.
    pub const OK: StatusCode = StatusCode(200);
    /// `400`: bad request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// `404`: not found (e.g. no messages for a JetStream pull request).
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// `408`: request timeout.
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// `409`: conflict (e.g. consumer deleted, max waiting exceeded).
    pub const CONFLICT: StatusCode = StatusCode(409);
    /// `503`: no responders are listening on the request subject.
    pub const NO_RESPONDERS: StatusCode = StatusCode(503);

    /// Creates a status code from its numeric value.
    ///
    /// Any value is accepted here; only `100..=999` can be encoded
    /// (see [`HeaderMap::validate`]).
    pub const fn new(code: u16) -> Self {
        StatusCode(code)
    }

    /// Returns the numeric value of the status code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code can be written on the wire (three digits, `100..=999`).
    const fn is_encodable(self) -> bool {
        self.0 >= 100 && self.0 <= 999
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for StatusCode {
    fn from(code: u16) -> Self {
        StatusCode(code)
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> Self {
        code.0
    }
}

/// Errors produced while validating, encoding or decoding headers.
///
/// ```
/// use nats_actix::headers::{HeaderError, HeaderMap};
///
/// assert_eq!(HeaderMap::decode(b"HTTP/1.1 200\r\n\r\n"), Err(HeaderError::InvalidVersionLine));
/// assert_eq!(HeaderError::InvalidName.to_string(), "invalid header name");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header name is empty or contains a byte outside printable ASCII
    /// (`33..=126`) or a `:`.
    InvalidName,
    /// A header value contains `\r` or `\n`.
    InvalidValue,
    /// The block does not start with `NATS/1.0`, or the status description
    /// contains `\r` or `\n`.
    InvalidVersionLine,
    /// The inline status is not exactly three digits (decode) or is outside
    /// `100..=999` (encode).
    InvalidStatus,
    /// The header block is not valid UTF-8.
    InvalidUtf8,
    /// The input ends before the `NATS/1.0` version marker is complete.
    Incomplete,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::InvalidName => "invalid header name",
            HeaderError::InvalidValue => "invalid header value",
            HeaderError::InvalidVersionLine => "invalid header version line",
            HeaderError::InvalidStatus => "invalid header status code",
            HeaderError::InvalidUtf8 => "header block is not valid UTF-8",
            HeaderError::Incomplete => "incomplete header block",
        })
    }
}

impl std::error::Error for HeaderError {}

/// An ordered multi-map of NATS message headers plus the optional inline
/// status code and description.
///
/// Lookups by name are ASCII case-insensitive; names keep the case they
/// were inserted with, and entries keep insertion order.
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::headers::{HeaderMap, StatusCode};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("Nats-Msg-Id", "abc");
/// headers.append("Foo", "bar");
/// headers.append("foo", "baz");
/// assert_eq!(headers.get("nats-msg-id"), Some("abc"));
/// assert_eq!(headers.get_all("FOO").collect::<Vec<_>>(), ["bar", "baz"]);
///
/// let mut buf = BytesMut::new();
/// let written = headers.encode(&mut buf).unwrap();
/// assert_eq!(written, headers.encoded_len());
/// assert_eq!(&buf[..], &b"NATS/1.0\r\nNats-Msg-Id: abc\r\nFoo: bar\r\nfoo: baz\r\n\r\n"[..]);
/// assert_eq!(HeaderMap::decode(&buf).unwrap(), headers);
///
/// let status = HeaderMap::decode(b"NATS/1.0 404 No Messages\r\n\r\n").unwrap();
/// assert_eq!(status.status(), Some(StatusCode::NOT_FOUND));
/// assert_eq!(status.description(), Some("No Messages"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    // Boxed: a message without headers pays one pointer for the field
    // (`Option<HeaderMap>` is 8 bytes), and every message is moved
    // through queues.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Inner {
    status: Option<StatusCode>,
    description: Option<String>,
    entries: Vec<(String, String)>,
}

impl HeaderMap {
    /// Creates an empty header map (no status, no entries).
    pub fn new() -> Self {
        HeaderMap::default()
    }

    /// Creates a header map with an inline status and optional description.
    ///
    /// ```
    /// use nats_actix::headers::{HeaderMap, StatusCode};
    ///
    /// let h = HeaderMap::with_status(StatusCode::NO_RESPONDERS, None);
    /// assert_eq!(h.status(), Some(StatusCode::NO_RESPONDERS));
    /// assert!(h.description().is_none());
    /// ```
    pub fn with_status(status: StatusCode, description: Option<&str>) -> Self {
        HeaderMap {
            inner: Box::new(Inner {
                status: Some(status),
                description: description.map(str::to_owned),
                entries: Vec::new(),
            }),
        }
    }

    /// Returns the inline status code, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// Returns the status description, if any.
    pub fn description(&self) -> Option<&str> {
        self.inner.description.as_deref()
    }

    /// Sets (or clears) the inline status code and description.
    ///
    /// An empty description is not written on the wire. A description
    /// without a status is written as `NATS/1.0 <description>`.
    pub fn set_status(&mut self, status: Option<StatusCode>, description: Option<String>) {
        self.inner.status = status;
        self.inner.description = description;
    }

    /// Sets `name` to `value`, replacing every existing value whose name
    /// matches case-insensitively. The new entry is appended with the case
    /// of `name` as given.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.inner.entries.push((name, value.into()));
    }

    /// Appends another value for `name`, keeping existing values.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.inner.entries.push((name.into(), value.into()));
    }

    /// Returns the first value for `name` (case-insensitive), if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.inner
            .entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns every value for `name` (case-insensitive), in insertion order.
    pub fn get_all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.inner
            .entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every value for `name` (case-insensitive) and returns how
    /// many entries were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.inner.entries.len();
        self.inner
            .entries
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.inner.entries.len()
    }

    /// Whether at least one value exists for `name` (case-insensitive).
    pub fn contains_key(&self, name: &str) -> bool {
        self.inner
            .entries
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Number of header entries (each value of a multi-valued name counts).
    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    /// Whether the map has no entries and no status.
    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty() && self.inner.status.is_none()
    }

    /// Iterates over `(name, value)` pairs in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.inner.entries.iter(),
        }
    }

    /// Checks that the map can be encoded.
    ///
    /// * names are non-empty and consist of printable ASCII (`33..=126`)
    ///   other than `:` ([`HeaderError::InvalidName`]);
    /// * values contain no `\r` or `\n` ([`HeaderError::InvalidValue`]);
    /// * the description contains no `\r` or `\n`
    ///   ([`HeaderError::InvalidVersionLine`]);
    /// * the status is within `100..=999` ([`HeaderError::InvalidStatus`]).
    pub fn validate(&self) -> Result<(), HeaderError> {
        if let Some(status) = self.inner.status
            && !status.is_encodable()
        {
            return Err(HeaderError::InvalidStatus);
        }
        if let Some(desc) = &self.inner.description
            && has_crlf(desc)
        {
            return Err(HeaderError::InvalidVersionLine);
        }
        for (name, value) in &self.inner.entries {
            if !is_valid_name(name) {
                return Err(HeaderError::InvalidName);
            }
            if has_crlf(value) {
                return Err(HeaderError::InvalidValue);
            }
        }
        Ok(())
    }

    /// The exact number of bytes [`encode`](Self::encode) writes for a
    /// valid map.
    pub fn encoded_len(&self) -> usize {
        let mut len = VERSION.len() + CRLF.len() + CRLF.len();
        if self.inner.status.is_some() {
            len += 4;
        }
        if let Some(desc) = self.wire_description() {
            len += 1 + desc.len();
        }
        for (name, value) in &self.inner.entries {
            len += name.len() + 2 + value.len() + CRLF.len();
        }
        len
    }

    /// Appends the wire form of the header block to `dst` and returns the
    /// number of bytes written.
    ///
    /// The map is [validated](Self::validate) first; on error nothing is
    /// written.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<usize, HeaderError> {
        self.validate()?;
        let len = self.encoded_len();
        self.encode_validated(dst, len);
        Ok(len)
    }

    /// [`HeaderMap::encode`] for a map already validated, whose
    /// [`encoded_len`](Self::encoded_len) is `len`: the publish path checks
    /// both once, before writing anything.
    pub(crate) fn encode_validated(&self, dst: &mut BytesMut, len: usize) {
        dst.reserve(len);
        dst.put_slice(VERSION.as_bytes());
        if let Some(status) = self.inner.status {
            let n = status.as_u16();
            // validate() guarantees 100..=999, i.e. exactly three digits.
            dst.put_slice(&[
                b' ',
                b'0' + (n / 100) as u8,
                b'0' + (n / 10 % 10) as u8,
                b'0' + (n % 10) as u8,
            ]);
        }
        if let Some(desc) = self.wire_description() {
            dst.put_u8(b' ');
            dst.put_slice(desc.as_bytes());
        }
        dst.put_slice(CRLF);
        for (name, value) in &self.inner.entries {
            dst.put_slice(name.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(value.as_bytes());
            dst.put_slice(CRLF);
        }
        dst.put_slice(CRLF);
    }

    /// Parses a header block.
    ///
    /// Decoding is tolerant, like other NATS clients:
    ///
    /// * the whole input must be UTF-8 ([`HeaderError::InvalidUtf8`]);
    /// * it must start with `NATS/1.0` ([`HeaderError::InvalidVersionLine`],
    ///   or [`HeaderError::Incomplete`] if the input is a strict prefix of it);
    /// * after optional spaces/tabs, a run of digits is the status and must
    ///   be exactly three digits ([`HeaderError::InvalidStatus`]); the trimmed
    ///   rest of the line is the description (`None` if empty);
    /// * lines may end in `\r\n` or `\n`; the final blank line and the final
    ///   line terminator may be missing; an empty line ends the block and
    ///   anything after it is ignored;
    /// * each header line is split at its first `:`; name and value are
    ///   trimmed; lines without a `:` or with an empty name are skipped;
    ///   names are not otherwise checked.
    ///
    /// It never panics, whatever the input.
    ///
    /// ```
    /// use nats_actix::headers::{HeaderMap, StatusCode};
    ///
    /// let h = HeaderMap::decode(b"NATS/1.0 100 Idle Heartbeat\nNats-Last-Consumer: 1\n").unwrap();
    /// assert_eq!(h.status(), Some(StatusCode::IDLE_HEARTBEAT));
    /// assert_eq!(h.description(), Some("Idle Heartbeat"));
    /// assert_eq!(h.get("nats-last-consumer"), Some("1"));
    /// ```
    pub fn decode(src: &[u8]) -> Result<HeaderMap, HeaderError> {
        let text = std::str::from_utf8(src).map_err(|_| HeaderError::InvalidUtf8)?;
        if !text.starts_with(VERSION) {
            return Err(if VERSION.starts_with(text) {
                HeaderError::Incomplete
            } else {
                HeaderError::InvalidVersionLine
            });
        }

        let (first, mut rest) = split_line(text);
        let (status, description) = parse_status_line(&first[VERSION.len()..])?;

        // Upper bound on the number of header lines: avoids regrowth.
        let capacity = rest.bytes().filter(|&b| b == b'\n').count() + 1;
        let mut entries = Vec::with_capacity(if rest.is_empty() { 0 } else { capacity });

        while !rest.is_empty() {
            let (line, next) = split_line(rest);
            rest = next;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            entries.push((name.to_owned(), value.trim().to_owned()));
        }

        Ok(HeaderMap {
            inner: Box::new(Inner {
                status,
                description,
                entries,
            }),
        })
    }

    /// The description as written on the wire (empty ones are omitted).
    fn wire_description(&self) -> Option<&str> {
        self.inner.description.as_deref().filter(|d| !d.is_empty())
    }
}

/// Splits off the first line; strips a trailing `\n` and then `\r`.
fn split_line(text: &str) -> (&str, &str) {
    let (line, rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    (line.strip_suffix('\r').unwrap_or(line), rest)
}

/// Parses what follows `NATS/1.0` on the version line.
fn parse_status_line(after: &str) -> Result<(Option<StatusCode>, Option<String>), HeaderError> {
    if after.is_empty() {
        return Ok((None, None));
    }
    if !after.starts_with([' ', '\t']) {
        // e.g. "NATS/1.01" or "NATS/1.0x".
        return Err(HeaderError::InvalidVersionLine);
    }
    let after = after.trim_start_matches([' ', '\t']);
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let (status, desc) = match digits {
        0 => (None, after),
        3 => {
            let code = after
                .bytes()
                .take(3)
                .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
            (Some(StatusCode(code)), &after[3..])
        }
        _ => return Err(HeaderError::InvalidStatus),
    };
    let desc = desc.trim();
    Ok((status, (!desc.is_empty()).then(|| desc.to_owned())))
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn has_crlf(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// Iterator over the `(name, value)` pairs of a [`HeaderMap`], in insertion
/// order. Created by [`HeaderMap::iter`].
///
/// ```
/// use nats_actix::headers::HeaderMap;
///
/// let h: HeaderMap = [("A", "1"), ("B", "2")].into_iter().collect();
/// let pairs: Vec<(&str, &str)> = h.iter().collect();
/// assert_eq!(pairs, [("A", "1"), ("B", "2")]);
/// for (name, value) in &h {
///     assert!(!name.is_empty() && !value.is_empty());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (String, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner
            .next_back()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HeaderMap {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for HeaderMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = HeaderMap::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for HeaderMap {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(h: &HeaderMap) -> Result<BytesMut, HeaderError> {
        let mut buf = BytesMut::new();
        let n = h.encode(&mut buf)?;
        assert_eq!(n, buf.len());
        assert_eq!(n, h.encoded_len());
        Ok(buf)
    }

    #[test]
    fn round_trip_status_description_multi_values() {
        let mut h = HeaderMap::with_status(StatusCode::CONFLICT, Some("Consumer Deleted"));
        h.append("Foo", "bar");
        h.append("Foo", "baz");
        h.insert("Nats-Msg-Id", "id-1");
        h.append("X-Utf8", "héllo wörld ✓");
        h.append("Empty", "");
        let buf = enc(&h).unwrap();
        assert_eq!(
            &buf[..],
            "NATS/1.0 409 Consumer Deleted\r\nFoo: bar\r\nFoo: baz\r\nNats-Msg-Id: id-1\r\nX-Utf8: héllo wörld ✓\r\nEmpty: \r\n\r\n"
                .as_bytes()
        );
        let back = HeaderMap::decode(&buf).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.get_all("foo").collect::<Vec<_>>(), ["bar", "baz"]);
    }

    #[test]
    fn encode_plain_and_empty() {
        let h: HeaderMap = [("Foo", "bar"), ("Foo", "baz")].into_iter().collect();
        assert_eq!(
            &enc(&h).unwrap()[..],
            b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n"
        );
        let empty = HeaderMap::new();
        assert!(empty.is_empty());
        assert_eq!(&enc(&empty).unwrap()[..], b"NATS/1.0\r\n\r\n");
        let s = HeaderMap::with_status(StatusCode::NO_RESPONDERS, None);
        assert!(!s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(&enc(&s).unwrap()[..], b"NATS/1.0 503\r\n\r\n");
        let s = HeaderMap::with_status(StatusCode::NO_RESPONDERS, Some(""));
        assert_eq!(&enc(&s).unwrap()[..], b"NATS/1.0 503\r\n\r\n");
    }

    #[test]
    fn encode_appends_to_existing_buffer() {
        let h: HeaderMap = [("A", "1")].into_iter().collect();
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let n = h.encode(&mut buf).unwrap();
        assert_eq!(buf.len(), 6 + n);
        assert_eq!(&buf[6..], b"NATS/1.0\r\nA: 1\r\n\r\n");
    }

    #[test]
    fn case_insensitive_operations_preserve_case() {
        let mut h = HeaderMap::new();
        h.append("Content-Type", "a");
        h.append("X-Other", "o");
        h.append("content-type", "b");
        assert_eq!(h.get("CONTENT-TYPE"), Some("a"));
        assert_eq!(h.get_all("Content-type").collect::<Vec<_>>(), ["a", "b"]);
        assert!(h.contains_key("x-other"));
        assert!(!h.contains_key("missing"));
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.len(), 3);

        h.insert("CONTENT-type", "c");
        assert_eq!(h.len(), 2);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("X-Other", "o"), ("CONTENT-type", "c")]
        );

        assert_eq!(h.remove("content-TYPE"), 1);
        assert_eq!(h.remove("content-type"), 0);
        assert_eq!(h.iter().collect::<Vec<_>>(), [("X-Other", "o")]);
        assert_eq!(h.remove("X-OTHER"), 1);
        assert!(h.is_empty());
    }

    #[test]
    fn status_accessors() {
        let mut h = HeaderMap::new();
        assert_eq!(h.status(), None);
        h.set_status(
            Some(StatusCode::REQUEST_TIMEOUT),
            Some("Request Timeout".into()),
        );
        assert_eq!(h.status(), Some(StatusCode::new(408)));
        assert_eq!(h.description(), Some("Request Timeout"));
        assert_eq!(StatusCode::BAD_REQUEST.as_u16(), 400);
        assert_eq!(StatusCode::OK.to_string(), "200");
        assert_eq!(format!("{}", StatusCode::IDLE_HEARTBEAT), "100");
        h.set_status(None, None);
        assert!(h.is_empty());
    }

    #[test]
    fn validation_errors() {
        let bad_names = [
            "", "Foo Bar", "Foo:Bar", "Foo\tBar", "Fö", "A\x7f", "A\r", "A\n",
        ];
        for name in bad_names {
            let mut h = HeaderMap::new();
            h.append(name, "v");
            assert_eq!(h.validate(), Err(HeaderError::InvalidName), "{name:?}");
            let mut buf = BytesMut::from(&b"x"[..]);
            assert_eq!(h.encode(&mut buf), Err(HeaderError::InvalidName));
            assert_eq!(&buf[..], b"x", "nothing written on error");
        }
        for value in ["a\rb", "a\nb", "\r\n", "end\n"] {
            let mut h = HeaderMap::new();
            h.append("Ok", "fine");
            h.append("Name", value);
            assert_eq!(h.validate(), Err(HeaderError::InvalidValue));
            let mut buf = BytesMut::new();
            assert_eq!(h.encode(&mut buf), Err(HeaderError::InvalidValue));
            assert!(buf.is_empty());
        }
        let h = HeaderMap::with_status(StatusCode::OK, Some("two\r\nlines"));
        assert_eq!(h.validate(), Err(HeaderError::InvalidVersionLine));
        for code in [0, 99, 1000, u16::MAX] {
            let h = HeaderMap::with_status(StatusCode::new(code), None);
            assert_eq!(h.validate(), Err(HeaderError::InvalidStatus));
            let mut buf = BytesMut::new();
            assert_eq!(h.encode(&mut buf), Err(HeaderError::InvalidStatus));
            assert!(buf.is_empty());
        }
        for code in [100, 999] {
            assert!(
                HeaderMap::with_status(StatusCode::new(code), None)
                    .validate()
                    .is_ok()
            );
        }
        let mut h = HeaderMap::new();
        h.append(
            "!#$%&'*+-.^_`|~09azAZ",
            "any UTF-8 ✓ : with colon\t and tab",
        );
        assert_eq!(h.validate(), Ok(()));
        assert_eq!(HeaderMap::decode(&enc(&h).unwrap()).unwrap(), h);
    }

    #[test]
    fn error_display() {
        assert_eq!(HeaderError::InvalidName.to_string(), "invalid header name");
        assert_eq!(
            HeaderError::InvalidValue.to_string(),
            "invalid header value"
        );
        for e in [
            HeaderError::InvalidVersionLine,
            HeaderError::InvalidStatus,
            HeaderError::InvalidUtf8,
            HeaderError::Incomplete,
        ] {
            let err: &dyn std::error::Error = &e;
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn decode_status_only() {
        let h = HeaderMap::decode(b"NATS/1.0 503\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::NO_RESPONDERS));
        assert_eq!(h.description(), None);
        assert_eq!(h.len(), 0);
        assert!(!h.is_empty());
    }

    #[test]
    fn decode_status_with_description() {
        let h = HeaderMap::decode(b"NATS/1.0 404 No Messages\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(h.description(), Some("No Messages"));
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn decode_idle_heartbeat() {
        let h = HeaderMap::decode(b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n")
            .unwrap();
        assert_eq!(h.status(), Some(StatusCode::IDLE_HEARTBEAT));
        assert_eq!(h.description(), Some("Idle Heartbeat"));
        assert_eq!(h.get("Nats-Last-Consumer"), Some("1"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn decode_plain() {
        let h = HeaderMap::decode(b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n").unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(h.description(), None);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Foo", "bar"), ("Foo", "baz")]
        );
        let h = HeaderMap::decode(b"NATS/1.0").unwrap();
        assert!(h.is_empty());
    }

    #[test]
    fn decode_tolerant_line_endings() {
        let expected: HeaderMap = [("A", "1"), ("B", "2")].into_iter().collect();
        for input in [
            &b"NATS/1.0\nA: 1\nB: 2\n\n"[..],
            b"NATS/1.0\r\nA: 1\nB: 2\r\n\r\n",
            b"NATS/1.0\r\nA: 1\r\nB: 2\r\n",
            b"NATS/1.0\r\nA: 1\r\nB: 2",
            b"NATS/1.0\nA: 1\nB: 2",
            b"NATS/1.0\r\nA: 1\r\nB: 2\r",
        ] {
            assert_eq!(
                HeaderMap::decode(input).as_ref(),
                Ok(&expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn decode_tolerant_whitespace_and_junk() {
        let h = HeaderMap::decode(
            b"NATS/1.0 \t 409\t  Consumer Deleted \t\r\n  Foo  :   bar baz  \r\nno colon here\r\n\tTab:\tv\t\r\nX:\r\nY:a:b\r\n: nameless\r\n\r\nAfter: ignored\r\n",
        )
        .unwrap();
        assert_eq!(h.status(), Some(StatusCode::CONFLICT));
        assert_eq!(h.description(), Some("Consumer Deleted"));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Foo", "bar baz"), ("Tab", "v"), ("X", ""), ("Y", "a:b")]
        );
        assert!(!h.contains_key("After"));

        // Tolerated invalid name characters are kept as is.
        let h = HeaderMap::decode("NATS/1.0\r\nBad Näme: v\r\n\r\n".as_bytes()).unwrap();
        assert_eq!(h.get("bad näme"), Some("v"));

        // Description without a status.
        let h = HeaderMap::decode(b"NATS/1.0 Hello\r\n\r\n").unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(h.description(), Some("Hello"));

        // Status immediately followed by text, and trailing whitespace only.
        let h = HeaderMap::decode(b"NATS/1.0 200OK\r\n").unwrap();
        assert_eq!(h.status(), Some(StatusCode::OK));
        assert_eq!(h.description(), Some("OK"));
        let h = HeaderMap::decode(b"NATS/1.0 200  \t\r\n\r\n").unwrap();
        assert_eq!(h.description(), None);
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            HeaderMap::decode(b"NATS/2.0\r\n\r\n"),
            Err(HeaderError::InvalidVersionLine)
        );
        assert_eq!(
            HeaderMap::decode(b"HTTP/1.1 200 OK\r\n\r\n"),
            Err(HeaderError::InvalidVersionLine)
        );
        assert_eq!(
            HeaderMap::decode(b" NATS/1.0\r\n\r\n"),
            Err(HeaderError::InvalidVersionLine)
        );
        assert_eq!(
            HeaderMap::decode(b"NATS/1.01\r\n\r\n"),
            Err(HeaderError::InvalidVersionLine)
        );
        assert_eq!(HeaderMap::decode(b""), Err(HeaderError::Incomplete));
        assert_eq!(HeaderMap::decode(b"NATS/1"), Err(HeaderError::Incomplete));
        assert_eq!(
            HeaderMap::decode(b"NATS/1.0\r\nFoo: \xff\xfe\r\n\r\n"),
            Err(HeaderError::InvalidUtf8)
        );
        assert_eq!(HeaderMap::decode(b"\xc3"), Err(HeaderError::InvalidUtf8));
        for bad in [
            &b"NATS/1.0 5x3\r\n\r\n"[..],
            b"NATS/1.0 5x3",
            b"NATS/1.0 50\r\n\r\n",
            b"NATS/1.0 5034\r\n\r\n",
            b"NATS/1.0 1 Idle\r\n\r\n",
        ] {
            assert_eq!(HeaderMap::decode(bad), Err(HeaderError::InvalidStatus));
        }
    }

    #[test]
    fn encoded_len_matches_encode() {
        let mut h = HeaderMap::new();
        assert_eq!(enc(&h).unwrap().len(), h.encoded_len());
        h.set_status(Some(StatusCode::NOT_FOUND), Some("No Messages".into()));
        assert_eq!(enc(&h).unwrap().len(), h.encoded_len());
        h.append("Ünïcode-value", "ok");
        assert!(h.validate().is_err());
        h.remove("Ünïcode-value");
        h.append("K", "välüe ✓");
        h.append("Long", "x".repeat(1000));
        assert_eq!(enc(&h).unwrap().len(), h.encoded_len());
    }

    /// Tiny xorshift64 PRNG for the randomized tests.
    struct XorShift64(u64);

    impl XorShift64 {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    fn random_name(rng: &mut XorShift64) -> String {
        let len = 1 + rng.below(16);
        (0..len)
            .map(|_| {
                loop {
                    let b = 33 + rng.below(94) as u8;
                    if b != b':' {
                        break char::from(b);
                    }
                }
            })
            .collect()
    }

    /// A value without CR/LF and without surrounding whitespace (decode trims).
    fn random_value(rng: &mut XorShift64) -> String {
        const EXTRA: &[char] = &[' ', '\t', ':', 'é', 'ß', '✓', '漢', '🦀', '\u{7f}', '\0'];
        let len = rng.below(24);
        let s: String = (0..len)
            .map(|_| {
                if rng.below(5) == 0 {
                    rng.pick(EXTRA)
                } else {
                    char::from(32 + rng.below(95) as u8)
                }
            })
            .collect();
        s.trim().to_owned()
    }

    #[test]
    fn randomized_round_trip() {
        let mut rng = XorShift64(0x9E37_79B9_7F4A_7C15);
        let mut buf = BytesMut::new();
        for case in 0..2_000 {
            let mut h = HeaderMap::new();
            if rng.below(3) == 0 {
                let status = StatusCode::new(100 + rng.below(900) as u16);
                let desc = random_value(&mut rng);
                let desc = (!desc.is_empty() && rng.below(2) == 0).then_some(desc);
                h.set_status(Some(status), desc);
            }
            let mut names: Vec<String> = Vec::new();
            for _ in 0..rng.below(8) {
                let name = if !names.is_empty() && rng.below(4) == 0 {
                    let n = names[rng.below(names.len())].clone();
                    if rng.below(2) == 0 {
                        n.to_ascii_lowercase()
                    } else {
                        n
                    }
                } else {
                    random_name(&mut rng)
                };
                names.push(name.clone());
                let value = random_value(&mut rng);
                if rng.below(5) == 0 {
                    h.insert(name, value);
                } else {
                    h.append(name, value);
                }
            }
            buf.clear();
            let n = h
                .encode(&mut buf)
                .unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(n, buf.len());
            assert_eq!(n, h.encoded_len());
            let back = HeaderMap::decode(&buf).unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(back, h, "case {case}: {:?}", String::from_utf8_lossy(&buf));
        }
    }

    #[test]
    fn decode_never_panics() {
        let mut rng = XorShift64(0xDEAD_BEEF_CAFE_F00D);
        const ALPHABET: &[u8] = b"NATS/1.0 \t\r\n:0123456789aZ-\xc3\xa9\xff\x80";
        let valid: &[&[u8]] = &[
            b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n",
            b"NATS/1.0 404 No Messages\r\n\r\n",
            b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n",
            "NATS/1.0 409 Über\r\nK: välüe ✓\r\n\r\n".as_bytes(),
        ];
        for i in 0..10_000 {
            let input: Vec<u8> = match i % 3 {
                0 => {
                    let len = rng.below(64);
                    (0..len).map(|_| rng.next() as u8).collect()
                }
                1 => {
                    let mut v = b"NATS/1.0".to_vec();
                    let len = rng.below(64);
                    v.extend((0..len).map(|_| rng.pick(ALPHABET)));
                    v
                }
                _ => {
                    let block = rng.pick(valid);
                    let mut v = block[..rng.below(block.len() + 1)].to_vec();
                    if !v.is_empty() && rng.below(2) == 0 {
                        let at = rng.below(v.len());
                        v[at] = rng.pick(ALPHABET);
                    }
                    v
                }
            };
            if let Ok(h) = HeaderMap::decode(&input) {
                // Whatever decodes must also be safe to inspect and encode.
                let _ = h.encoded_len();
                let _ = h.encode(&mut BytesMut::new());
            }
        }
    }
}
