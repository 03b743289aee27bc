//! Subjects: a cheap, clonable UTF-8 string type, and the validation rules
//! for publish subjects, subscribe subjects and queue group names.
//!
//! ```text
//! token      = 1*( any byte except ' ', '\t', '\r', '\n', '.' )
//! subject    = token *( '.' token )
//! publish    : no token is exactly "*" or ">"
//! subscribe  : "*" may be any token; ">" only the last one
//! queue      : non-empty, no whitespace
//! ```
//!
//! A token that merely *contains* `*` or `>` (such as `a*b`) is a literal, as
//! in nats-server.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// A NATS subject: an immutable UTF-8 string that is cheap to clone and can
/// share memory with the buffer it was received in.
///
/// Constructing a `Subject` does not validate it; use [`validate_publish`],
/// [`validate_subscribe`] or [`Subject::publish`] where the rules matter.
///
/// # Examples
///
/// ```
/// use nats_actix::Subject;
///
/// let s = Subject::from("orders.created");
/// assert_eq!(s.as_str(), "orders.created");
/// assert_eq!(s.tokens().count(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(ByteString);

impl Subject {
    /// Creates a subject from a static string without copying.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = nats_actix::Subject::from_static("foo.bar");
    /// assert_eq!(&*s, "foo.bar");
    /// ```
    pub const fn from_static(s: &'static str) -> Self {
        Subject(ByteString::from_static(s))
    }

    /// Creates a validated publish subject.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] when `s` is not a valid publish subject (see
    /// [`validate_publish`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::Subject;
    /// assert!(Subject::publish("a.b").is_ok());
    /// assert!(Subject::publish("a.*").is_err());
    /// ```
    pub fn publish(s: impl Into<Subject>) -> Result<Self, SubjectError> {
        let s = s.into();
        validate_publish(&s)?;
        Ok(s)
    }

    /// Creates a validated subscribe subject (wildcards allowed).
    ///
    /// # Errors
    ///
    /// [`SubjectError`] when `s` is not a valid subscribe subject (see
    /// [`validate_subscribe`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::Subject;
    /// assert!(Subject::subscribe("a.*.>").is_ok());
    /// assert!(Subject::subscribe("a.>.b").is_err());
    /// ```
    pub fn subscribe(s: impl Into<Subject>) -> Result<Self, SubjectError> {
        let s = s.into();
        validate_subscribe(&s)?;
        Ok(s)
    }

    /// Builds a subject from bytes, checking only that they are UTF-8.
    ///
    /// This shares memory with `bytes`; no copy is made.
    ///
    /// # Errors
    ///
    /// [`SubjectError::NotUtf8`] when the bytes are not UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use nats_actix::Subject;
    /// let s = Subject::from_utf8(Bytes::from_static(b"foo")).unwrap();
    /// assert_eq!(s, "foo");
    /// assert!(Subject::from_utf8(Bytes::from_static(b"\xff")).is_err());
    /// ```
    pub fn from_utf8(bytes: Bytes) -> Result<Self, SubjectError> {
        ByteString::try_from(bytes)
            .map(Subject)
            .map_err(|_| SubjectError::NotUtf8)
    }

    /// The subject as a string slice.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(nats_actix::Subject::from("x").as_str(), "x");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject's bytes, sharing memory with the subject.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = nats_actix::Subject::from("x");
    /// assert_eq!(&s.as_bytes()[..], b"x");
    /// ```
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The dot-separated tokens of the subject.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = nats_actix::Subject::from("a.b.c");
    /// assert_eq!(s.tokens().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// ```
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Whether this (subscribe) subject contains a `*` or `>` wildcard token.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::Subject;
    /// assert!(Subject::from("a.*").has_wildcards());
    /// assert!(!Subject::from("a*b").has_wildcards());
    /// ```
    pub fn has_wildcards(&self) -> bool {
        self.tokens().any(|t| t == "*" || t == ">")
    }

    /// Whether a message published on `subject` matches this subscribe
    /// subject (which may hold wildcards).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::Subject;
    /// let filter = Subject::from("foo.*.>");
    /// assert!(filter.matches("foo.a.b"));
    /// assert!(filter.matches("foo.a.b.c"));
    /// assert!(!filter.matches("foo.a"));
    /// assert!(!Subject::from("foo.>").matches("foo"));
    /// ```
    pub fn matches(&self, subject: &str) -> bool {
        let mut pattern = self.tokens();
        let mut subject = subject.split('.');
        loop {
            match (pattern.next(), subject.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(p), Some(s)) if p == s => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl Deref for Subject {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Subject {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Subject {
    fn from(s: &str) -> Self {
        Subject(ByteString::from(s))
    }
}

impl From<String> for Subject {
    fn from(s: String) -> Self {
        Subject(ByteString::from(s))
    }
}

impl From<&String> for Subject {
    fn from(s: &String) -> Self {
        Subject(ByteString::from(s.as_str()))
    }
}

impl From<ByteString> for Subject {
    fn from(s: ByteString) -> Self {
        Subject(s)
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> Self {
        s.0.to_string()
    }
}

impl PartialEq<str> for Subject {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Subject {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<Subject> for &str {
    fn eq(&self, other: &Subject) -> bool {
        *self == &*other.0
    }
}

/// Why a subject or queue name was rejected.
///
/// # Examples
///
/// ```
/// use nats_actix::subject::{validate_publish, SubjectError};
/// assert_eq!(validate_publish("a..b"), Err(SubjectError::EmptyToken));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject or queue name is empty.
    Empty,
    /// It contains a space, tab, CR or LF.
    Whitespace,
    /// A token is empty: a leading, trailing or doubled `.`.
    EmptyToken,
    /// A publish subject holds a `*` or `>` wildcard token.
    WildcardInPublish,
    /// `>` is used somewhere other than the last token.
    FullWildcardNotLast,
    /// The bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectError::Empty => "subject is empty",
            SubjectError::Whitespace => "subject contains whitespace",
            SubjectError::EmptyToken => "subject has an empty token",
            SubjectError::WildcardInPublish => "publish subject contains a wildcard",
            SubjectError::FullWildcardNotLast => "'>' is only allowed as the last token",
            SubjectError::NotUtf8 => "subject is not valid UTF-8",
        })
    }
}

impl std::error::Error for SubjectError {}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Checks the rules shared by every subject and returns the tokens'
/// wildcard report through `on_token(token, is_last)`.
#[inline]
fn check(
    subject: &str,
    mut on_token: impl FnMut(&[u8], bool) -> Result<(), SubjectError>,
) -> Result<(), SubjectError> {
    let bytes = subject.as_bytes();
    if bytes.is_empty() {
        return Err(SubjectError::Empty);
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_space(b) {
            return Err(SubjectError::Whitespace);
        }
        if b == b'.' {
            if i == start {
                return Err(SubjectError::EmptyToken);
            }
            on_token(&bytes[start..i], false)?;
            start = i + 1;
        }
    }
    if start == bytes.len() {
        return Err(SubjectError::EmptyToken);
    }
    on_token(&bytes[start..], true)
}

/// Validates a subject to publish on (also used for reply subjects):
/// non-empty, no whitespace, no empty tokens, no wildcard tokens.
///
/// # Errors
///
/// The [`SubjectError`] that says which rule failed.
///
/// # Examples
///
/// ```
/// use nats_actix::subject::validate_publish;
/// assert!(validate_publish("orders.eu.created").is_ok());
/// assert!(validate_publish("orders.*").is_err());
/// assert!(validate_publish("orders created").is_err());
/// ```
pub fn validate_publish(subject: &str) -> Result<(), SubjectError> {
    check(subject, |token, _| {
        if token == b"*" || token == b">" {
            Err(SubjectError::WildcardInPublish)
        } else {
            Ok(())
        }
    })
}

/// Validates a subject to subscribe to: as [`validate_publish`], except that
/// `*` may stand for any token and `>` for the last one.
///
/// # Errors
///
/// The [`SubjectError`] that says which rule failed.
///
/// # Examples
///
/// ```
/// use nats_actix::subject::validate_subscribe;
/// assert!(validate_subscribe("orders.*.created").is_ok());
/// assert!(validate_subscribe("orders.>").is_ok());
/// assert!(validate_subscribe("orders.>.x").is_err());
/// ```
pub fn validate_subscribe(subject: &str) -> Result<(), SubjectError> {
    check(subject, |token, last| {
        if token == b">" && !last {
            Err(SubjectError::FullWildcardNotLast)
        } else {
            Ok(())
        }
    })
}

/// Validates a queue group name: non-empty and no whitespace.
///
/// # Errors
///
/// [`SubjectError::Empty`] or [`SubjectError::Whitespace`].
///
/// # Examples
///
/// ```
/// use nats_actix::subject::validate_queue;
/// assert!(validate_queue("workers").is_ok());
/// assert!(validate_queue("my workers").is_err());
/// ```
pub fn validate_queue(queue: &str) -> Result<(), SubjectError> {
    if queue.is_empty() {
        return Err(SubjectError::Empty);
    }
    if queue.bytes().any(is_space) {
        return Err(SubjectError::Whitespace);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_BOTH: &[(&str, SubjectError)] = &[
        ("", SubjectError::Empty),
        (" ", SubjectError::Whitespace),
        ("foo bar", SubjectError::Whitespace),
        ("foo\tbar", SubjectError::Whitespace),
        ("foo\rbar", SubjectError::Whitespace),
        ("foo\nbar", SubjectError::Whitespace),
        ("foo ", SubjectError::Whitespace),
        (".", SubjectError::EmptyToken),
        (".foo", SubjectError::EmptyToken),
        ("foo.", SubjectError::EmptyToken),
        ("foo..bar", SubjectError::EmptyToken),
        ("foo. bar", SubjectError::Whitespace),
    ];

    #[test]
    fn publish_rules() {
        for (s, e) in BAD_BOTH {
            assert_eq!(validate_publish(s), Err(*e), "{s:?}");
        }
        for s in ["*", ">", "a.*", "a.>", "*.a", "a.>.b"] {
            assert_eq!(
                validate_publish(s),
                Err(SubjectError::WildcardInPublish),
                "{s:?}"
            );
        }
        for s in [
            "a",
            "a.b.c",
            "a*b",
            "a>b.c",
            "_INBOX.abc.1",
            "ünïcode.ok",
            "$JS.API.INFO",
        ] {
            assert_eq!(validate_publish(s), Ok(()), "{s:?}");
        }
    }

    #[test]
    fn subscribe_rules() {
        for (s, e) in BAD_BOTH {
            assert_eq!(validate_subscribe(s), Err(*e), "{s:?}");
        }
        for s in [">.a", "a.>.b", "a.>.>"] {
            assert_eq!(
                validate_subscribe(s),
                Err(SubjectError::FullWildcardNotLast),
                "{s:?}"
            );
        }
        for s in ["*", ">", "a.*", "a.>", "*.*.>", "a.*.b", "a"] {
            assert_eq!(validate_subscribe(s), Ok(()), "{s:?}");
        }
    }

    #[test]
    fn queue_rules() {
        assert_eq!(validate_queue(""), Err(SubjectError::Empty));
        assert_eq!(validate_queue("a b"), Err(SubjectError::Whitespace));
        assert_eq!(validate_queue("a\tb"), Err(SubjectError::Whitespace));
        assert_eq!(validate_queue("a\r\n"), Err(SubjectError::Whitespace));
        assert_eq!(validate_queue("workers.eu"), Ok(()));
    }

    #[test]
    fn matching() {
        let cases = [
            ("foo", "foo", true),
            ("foo", "bar", false),
            ("foo.*", "foo.bar", true),
            ("foo.*", "foo.bar.baz", false),
            ("foo.>", "foo.bar.baz", true),
            ("foo.>", "foo", false),
            ("*.bar", "foo.bar", true),
            (">", "a.b.c", true),
            ("a.b", "a.b.c", false),
            ("a.b.c", "a.b", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Subject::from(p).matches(s), want, "{p} ~ {s}");
        }
    }

    #[test]
    fn conversions() {
        let s = Subject::from(String::from("a.b"));
        assert_eq!(s, "a.b");
        assert_eq!(format!("{s}"), "a.b");
        assert_eq!(format!("{s:?}"), "\"a.b\"");
        let owned: String = s.clone().into();
        assert_eq!(owned, "a.b");
        assert!(Subject::from_utf8(Bytes::from_static(b"\xc3\x28")).is_err());
    }
}
