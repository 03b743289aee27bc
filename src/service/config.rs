//! Configuration that needs no connection: name and version validation
//! (ADR-32), queue-group choices, and [`EndpointConfig`].

use std::collections::BTreeMap;

use crate::subject::validate_queue;
use crate::{Error, ErrorKind};

pub(crate) fn invalid(msg: String) -> Error {
    Error::with_source(ErrorKind::InvalidArgument, msg)
}

/// Checks a service (or endpoint) name: non-empty, `A-Z a-z 0-9 - _` only.
///
/// # Errors
///
/// `InvalidArgument` naming the offending name.
///
/// # Examples
///
/// ```
/// use nats_actix::service::validate_name;
/// assert!(validate_name("calc-v2_x").is_ok());
/// assert!(validate_name("calc.v2").is_err());
/// assert!(validate_name("").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid name {name:?}: use A-Z, a-z, 0-9, - and _ only"
        )))
    }
}

/// Checks a SemVer 2.0.0 version (`MAJOR.MINOR.PATCH[-pre][+build]`, no
/// leading zeros in numbers), as the semver.org regular expression does.
///
/// # Errors
///
/// `InvalidArgument` naming the version.
///
/// # Examples
///
/// ```
/// use nats_actix::service::validate_version;
/// assert!(validate_version("1.2.3-rc.1+build.5").is_ok());
/// assert!(validate_version("1.2").is_err());
/// assert!(validate_version("01.2.3").is_err());
/// ```
pub fn validate_version(version: &str) -> Result<(), Error> {
    fn number(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    }
    fn ident(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
    let ok = (|| {
        let (rest, build) = match version.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (version, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 || !parts.iter().all(|p| number(p)) {
            return false;
        }
        if let Some(pre) = pre
            && !pre
                .split('.')
                .all(|p| ident(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || number(p)))
        {
            return false;
        }
        build.is_none_or(|b| b.split('.').all(ident))
    })();
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid version {version:?}: not SemVer (MAJOR.MINOR.PATCH)"
        )))
    }
}

/// A queue group choice: inherit from the group or service, a name, or
/// none (a plain subscription).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Queue {
    #[default]
    Inherit,
    Named(String),
    Off,
}

impl Queue {
    pub(crate) fn resolve(&self, parent: &Option<String>) -> Option<String> {
        match self {
            Queue::Inherit => parent.clone(),
            Queue::Named(q) => Some(q.clone()),
            Queue::Off => None,
        }
    }
}

pub(crate) fn check_queue(q: &Queue) -> Result<(), Error> {
    if let Queue::Named(q) = q {
        validate_queue(q).map_err(|e| invalid(format!("invalid queue group {q:?}: {e}")))?;
    }
    Ok(())
}

/// An endpoint's configuration: its name, and optionally a subject (the
/// name by default, under the group's prefix), a queue group and metadata.
///
/// # Examples
///
/// ```
/// use nats_actix::service::EndpointConfig;
/// let cfg = EndpointConfig::new("add").subject("math.add").metadata("unit", "int").no_queue_group();
/// # drop(cfg);
/// let from_name: EndpointConfig = "echo".into();
/// # drop(from_name);
/// ```
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub(crate) name: String,
    pub(crate) subject: Option<String>,
    pub(crate) queue: Queue,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl EndpointConfig {
    /// An endpoint named `name`.
    pub fn new(name: impl Into<String>) -> EndpointConfig {
        EndpointConfig {
            name: name.into(),
            subject: None,
            queue: Queue::Inherit,
            metadata: BTreeMap::new(),
        }
    }
    /// Listens on `subject` (under the group's prefix) instead of the name.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// Its own queue group.
    pub fn queue_group(mut self, q: impl Into<String>) -> Self {
        self.queue = Queue::Named(q.into());
        self
    }
    /// No queue group: every instance gets every request.
    pub fn no_queue_group(mut self) -> Self {
        self.queue = Queue::Off;
        self
    }
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl From<&str> for EndpointConfig {
    fn from(name: &str) -> Self {
        EndpointConfig::new(name)
    }
}

impl From<String> for EndpointConfig {
    fn from(name: String) -> Self {
        EndpointConfig::new(name)
    }
}
