//! Status events of a connection.

use std::fmt;

use crate::Error;

/// Something that happened to the connection, fanned out to every
/// `Recipient<Event>` registered with
/// [`Client::add_event_recipient`](crate::Client::add_event_recipient) and
/// to every [`Client::events`](crate::Client::events) stream.
///
/// The counterpart of nats.deno's `status()` events.
///
/// # Examples
///
/// ```
/// use nats_actix::Event;
/// let e = Event::Connected { server: "nats://127.0.0.1:4222".into() };
/// assert_eq!(e.to_string(), "connected to nats://127.0.0.1:4222");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The connection was established.
    Connected {
        /// The server, without credentials.
        server: String,
    },
    /// The connection to a server was lost.
    Disconnected {
        /// The server, without credentials.
        server: String,
        /// Why, when known.
        reason: Option<Error>,
    },
    /// The Supervisor is about to try a server again after a loss (or,
    /// with `wait_on_first_connect`, after a failed first connect). Fires
    /// once per attempt, before the attempt's delay.
    Reconnecting {
        /// The attempt number since the connection was lost, from 1.
        attempt: usize,
        /// The server about to be tried, without credentials.
        server: String,
    },
    /// The client reconnected.
    Reconnected {
        /// The server, without credentials.
        server: String,
    },
    /// The server sent a cluster update (`connect_urls` changed).
    ServersChanged {
        /// Servers added to the pool.
        added: Vec<String>,
        /// Servers removed from the pool.
        deleted: Vec<String>,
    },
    /// The server entered lame duck mode and will evict clients.
    LameDuckMode {
        /// The server, without credentials.
        server: String,
    },
    /// A subscription exceeded its pending limits: newer messages are being
    /// dropped. Raised once per episode.
    SlowConsumer {
        /// The subscription id.
        sid: u64,
        /// Its subject.
        subject: String,
    },
    /// An asynchronous error that belongs to no operation in progress, such
    /// as a publish permission violation.
    Error(Error),
    /// The connection is closed for good.
    Closed {
        /// Why, if it was not a requested close.
        reason: Option<Error>,
    },
}

impl actix::Message for Event {
    type Result = ();
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected { server } => write!(f, "connected to {server}"),
            Event::Disconnected { server, reason } => match reason {
                Some(r) => write!(f, "disconnected from {server}: {r}"),
                None => write!(f, "disconnected from {server}"),
            },
            Event::Reconnecting { attempt, server } => {
                write!(f, "reconnecting to {server} (attempt {attempt})")
            }
            Event::Reconnected { server } => write!(f, "reconnected to {server}"),
            Event::ServersChanged { added, deleted } => {
                write!(f, "servers changed: added {added:?}, deleted {deleted:?}")
            }
            Event::LameDuckMode { server } => write!(f, "{server} entered lame duck mode"),
            Event::SlowConsumer { sid, subject } => {
                write!(f, "slow consumer on subscription {sid} ({subject})")
            }
            Event::Error(e) => write!(f, "error: {e}"),
            Event::Closed { reason: Some(r) } => write!(f, "closed: {r}"),
            Event::Closed { reason: None } => f.write_str("closed"),
        }
    }
}

/// Where the connection stands: the one source of truth, read by
/// [`Client::connection_state`](crate::Client::connection_state) and
/// checked by every publish.
///
/// The states follow the status events: `Connecting` until the first
/// connect, then `Connected`, `Reconnecting` after a loss (publishes go to
/// the reconnect buffer), `Connected` again, `Draining`, and `Closed` for
/// good.
///
/// # Examples
///
/// ```
/// use nats_actix::ConnectionState;
/// assert_eq!(ConnectionState::Reconnecting.to_string(), "reconnecting");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum ConnectionState {
    /// The first connect is in progress.
    Connecting = 0,
    /// A transport is up.
    Connected = 1,
    /// The transport was lost; the Supervisor is reconnecting.
    Reconnecting = 2,
    /// Draining: no new subscriptions or requests; then closed.
    Draining = 3,
    /// Closed for good.
    Closed = 4,
}

impl ConnectionState {
    pub(crate) fn from_u8(v: u8) -> ConnectionState {
        match v {
            0 => ConnectionState::Connecting,
            1 => ConnectionState::Connected,
            2 => ConnectionState::Reconnecting,
            3 => ConnectionState::Draining,
            _ => ConnectionState::Closed,
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Draining => "draining",
            ConnectionState::Closed => "closed",
        })
    }
}
