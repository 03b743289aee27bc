//! Connection options: server addresses ([`ServerAddr`]) and the
//! [`ConnectOptions`] builder.
//!
//! The options follow nats.deno's `ConnectionOptions` (same names in
//! snake case, same defaults unless noted), plus a few limits of our own
//! (buffer sizes, parser caps, per-subscription pending limits).
//!
//! Setters never fail, so they chain; anything that can be wrong (a server
//! address that does not parse, an invalid inbox prefix, a zero interval) is
//! reported by [`ConnectOptions::validate`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use nats_actix::options::ConnectOptions;
//!
//! let opts = ConnectOptions::new()
//!     .servers(["nats://a.example:4222", "tls://b.example"])
//!     .name("billing")
//!     .ping_interval(Duration::from_secs(30))
//!     .max_reconnect_attempts(-1);
//! opts.validate()?;
//! assert_eq!(opts.server_addrs().len(), 2);
//! # Ok::<(), nats_actix::Error>(())
//! ```

use std::fmt;
use std::net::IpAddr;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::error::{Error, ErrorKind};
use crate::proto::ConnectInfo;
use crate::subject::validate_publish;

/// The port used when an address names none.
pub const DEFAULT_PORT: u16 = 4222;

fn invalid(msg: impl Into<String>) -> Error {
    Error::with_source(ErrorKind::InvalidArgument, msg.into() as String)
}

mod addr;
mod tls;

use addr::*;
pub use addr::{ServerAddr, parse_servers};
pub use tls::TlsOptions;

// ---------------------------------------------------------------------------
// ConnectOptions
// ---------------------------------------------------------------------------

/// Computes the delay before reconnect attempt `n` (see
/// [`ConnectOptions::reconnect_delay_handler`]).
pub(crate) type ReconnectDelayHandler = Arc<dyn Fn(usize) -> Duration + Send + Sync>;

/// A byte stream a [`Connector`] returns.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Opens a connection to `host:port`: see [`ConnectOptions::connector`].
pub type Connector = std::sync::Arc<
    dyn Fn(
            &str,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::io::Result<Box<dyn Io>>> + Send>,
        > + Send
        + Sync,
>;

/// How to connect, authenticate and behave: a builder.
///
/// Start from [`ConnectOptions::new`] (the defaults), chain setters named
/// after the option, then call [`validate`](ConnectOptions::validate) (the
/// client does too). Defaults follow nats.deno:
///
/// | option | default |
/// |---|---|
/// | servers | `nats://127.0.0.1:4222` (nats.deno: `localhost:4222`) |
/// | port | 4222 (only used when no server is given) |
/// | name | none |
/// | verbose, pedantic, no_echo, no_randomize, no_resolve, debug | false |
/// | ignore_cluster_updates, ignore_auth_error_abort | false |
/// | inbox_prefix | `_INBOX` |
/// | max_ping_out | 2 |
/// | ping_interval | 120 s |
/// | reconnect | true |
/// | max_reconnect_attempts | 10 (negative: unlimited) |
/// | reconnect_time_wait | 2 s |
/// | reconnect_jitter / reconnect_jitter_tls | 100 ms / 1 s |
/// | reconnect_delay_handler | none (time wait plus jitter) |
/// | connection_timeout (deno `timeout`) | 20 s |
/// | wait_on_first_connect | false |
/// | tls_required, tls_handshake_first | false |
/// | reconnect_buffer_size | 8 MiB |
/// | pending_msgs_limit / pending_bytes_limit | 524,288 / 64 MiB |
/// | request_timeout | 1 s |
/// | write_buffer_limit | 8 MiB |
/// | max_control_line / max_payload_ceiling | 64 KiB / 64 MiB |
/// | flush_watermark | 64 KiB |
/// | drain_timeout | 30 s (as nats.go) |
/// | reconnect_on_lame_duck | false |
///
/// `Debug` redacts the password, token and nkey seed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nats_actix::options::ConnectOptions;
///
/// let opts = ConnectOptions::new()
///     .server("nats://127.0.0.1:4222,nats://127.0.0.1:4223")
///     .name("orders")
///     .user("alice")
///     .pass("hunter2")
///     .no_echo(true)
///     .reconnect_delay_handler(|attempt| Duration::from_millis(100 * attempt as u64))
///     .request_timeout(Duration::from_secs(5));
/// assert!(opts.validate().is_ok());
/// assert_eq!(opts.server_addrs().len(), 2);
/// assert!(!format!("{opts:?}").contains("hunter2"));
///
/// let bad = ConnectOptions::new().server("nats://host:99999");
/// assert!(bad.validate().is_err());
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) servers: Vec<ServerAddr>,
    /// The first server-parse error, reported by `validate`.
    pub(crate) server_error: Option<String>,
    pub(crate) port: u16,
    pub(crate) name: Option<String>,
    pub(crate) verbose: bool,
    pub(crate) pedantic: bool,
    pub(crate) no_echo: bool,
    pub(crate) no_randomize: bool,
    pub(crate) no_resolve: bool,
    pub(crate) debug: bool,
    pub(crate) ignore_cluster_updates: bool,
    pub(crate) ignore_auth_error_abort: bool,
    pub(crate) inbox_prefix: String,
    pub(crate) max_ping_out: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) reconnect: bool,
    pub(crate) max_reconnect_attempts: Option<usize>,
    pub(crate) reconnect_time_wait: Duration,
    pub(crate) reconnect_jitter: Duration,
    pub(crate) reconnect_jitter_tls: Duration,
    pub(crate) reconnect_delay_handler: Option<ReconnectDelayHandler>,
    pub(crate) event_recipients: Vec<actix::Recipient<crate::Event>>,
    pub(crate) connection_timeout: Duration,
    pub(crate) wait_on_first_connect: bool,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) auth: Option<crate::auth::Authenticator>,
    pub(crate) tls_required: bool,
    pub(crate) tls: TlsOptions,
    pub(crate) reconnect_buffer_size: usize,
    pub(crate) pending_msgs_limit: usize,
    pub(crate) pending_bytes_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) write_buffer_limit: usize,
    pub(crate) max_control_line: usize,
    pub(crate) max_payload_ceiling: usize,
    pub(crate) flush_watermark: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) reconnect_on_lame_duck: bool,
    pub(crate) connector: Option<Connector>,
    pub(crate) rng_seed: Option<u64>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            servers: Vec::new(),
            server_error: None,
            port: DEFAULT_PORT,
            name: None,
            verbose: false,
            pedantic: false,
            no_echo: false,
            no_randomize: false,
            no_resolve: false,
            debug: false,
            ignore_cluster_updates: false,
            ignore_auth_error_abort: false,
            inbox_prefix: "_INBOX".to_string(),
            max_ping_out: 2,
            ping_interval: Duration::from_secs(120),
            reconnect: true,
            max_reconnect_attempts: Some(10),
            reconnect_time_wait: Duration::from_secs(2),
            reconnect_jitter: Duration::from_millis(100),
            reconnect_jitter_tls: Duration::from_secs(1),
            reconnect_delay_handler: None,
            event_recipients: Vec::new(),
            connection_timeout: Duration::from_secs(20),
            wait_on_first_connect: false,
            user: None,
            pass: None,
            token: None,
            auth: None,
            tls_required: false,
            tls: TlsOptions::default(),
            reconnect_buffer_size: 8 * 1024 * 1024,
            pending_msgs_limit: 524_288,
            pending_bytes_limit: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(1),
            write_buffer_limit: 8 * 1024 * 1024,
            max_control_line: 64 * 1024,
            max_payload_ceiling: 64 * 1024 * 1024,
            flush_watermark: 64 * 1024,
            drain_timeout: Duration::from_secs(30),
            reconnect_on_lame_duck: false,
            connector: None,
            rng_seed: None,
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("servers", &self.servers)
            .field("server_error", &self.server_error)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("verbose", &self.verbose)
            .field("pedantic", &self.pedantic)
            .field("no_echo", &self.no_echo)
            .field("no_randomize", &self.no_randomize)
            .field("no_resolve", &self.no_resolve)
            .field("debug", &self.debug)
            .field("ignore_cluster_updates", &self.ignore_cluster_updates)
            .field("ignore_auth_error_abort", &self.ignore_auth_error_abort)
            .field("inbox_prefix", &self.inbox_prefix)
            .field("max_ping_out", &self.max_ping_out)
            .field("ping_interval", &self.ping_interval)
            .field("reconnect", &self.reconnect)
            .field("max_reconnect_attempts", &self.max_reconnect_attempts)
            .field("reconnect_time_wait", &self.reconnect_time_wait)
            .field("reconnect_jitter", &self.reconnect_jitter)
            .field("reconnect_jitter_tls", &self.reconnect_jitter_tls)
            .field(
                "reconnect_delay_handler",
                &self.reconnect_delay_handler.as_ref().map(|_| "<fn>"),
            )
            .field("event_recipients", &self.event_recipients.len())
            .field("connection_timeout", &self.connection_timeout)
            .field("wait_on_first_connect", &self.wait_on_first_connect)
            .field("user", &self.user)
            .field("pass", &redact(&self.pass))
            .field("token", &redact(&self.token))
            .field("auth", &self.auth)
            .field("tls_required", &self.tls_required)
            .field("tls", &self.tls)
            .field("reconnect_buffer_size", &self.reconnect_buffer_size)
            .field("pending_msgs_limit", &self.pending_msgs_limit)
            .field("pending_bytes_limit", &self.pending_bytes_limit)
            .field("request_timeout", &self.request_timeout)
            .field("write_buffer_limit", &self.write_buffer_limit)
            .field("max_control_line", &self.max_control_line)
            .field("max_payload_ceiling", &self.max_payload_ceiling)
            .field("flush_watermark", &self.flush_watermark)
            .field("drain_timeout", &self.drain_timeout)
            .field("reconnect_on_lame_duck", &self.reconnect_on_lame_duck)
            .field("connector", &self.connector.is_some())
            .field("rng_seed", &self.rng_seed)
            .finish()
    }
}

impl ConnectOptions {
    /// The default options (see the table on [`ConnectOptions`]).
    pub fn new() -> Self {
        Self::default()
    }

    fn add_servers(&mut self, list: &str) {
        match parse_list(list) {
            Ok(mut addrs) if !addrs.is_empty() => self.servers.append(&mut addrs),
            Ok(_) => self.defer_error("empty server address".to_string()),
            Err(e) => self.defer_error(e),
        }
    }

    fn defer_error(&mut self, msg: String) {
        if self.server_error.is_none() {
            self.server_error = Some(msg);
        }
    }

    // ----- servers --------------------------------------------------------

    /// Replaces the server list (and any deferred parse error). Each string
    /// may hold several comma-separated addresses in any form
    /// [`ServerAddr`] accepts. A string that does not parse is remembered
    /// and reported by [`validate`](Self::validate). An empty list means
    /// the default, `nats://127.0.0.1:<port>` (nats.deno: `localhost:4222`).
    pub fn servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.servers.clear();
        self.server_error = None;
        for s in servers {
            self.add_servers(s.as_ref());
        }
        self
    }

    /// Appends one server (or several, comma-separated) to the list; parse
    /// errors are deferred to [`validate`](Self::validate).
    pub fn server(mut self, server: impl AsRef<str>) -> Self {
        self.add_servers(server.as_ref());
        self
    }

    /// The port of the default server, used only when no server is given.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The servers that parsed, in order (empty when none was given).
    pub fn server_addrs(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// The servers to try: the configured ones, or the default
    /// `nats://127.0.0.1:<port>` when none was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::ConnectOptions;
    /// let servers = ConnectOptions::new().port(4333).servers_or_default();
    /// assert_eq!(servers[0].to_string(), "nats://127.0.0.1:4333");
    /// ```
    pub fn servers_or_default(&self) -> Vec<ServerAddr> {
        if self.servers.is_empty() {
            vec![ServerAddr {
                host: "127.0.0.1".to_string(),
                port: self.port,
                tls_required: false,
                user: None,
                pass: None,
                token: None,
            }]
        } else {
            self.servers.clone()
        }
    }

    // ----- identity and protocol -------------------------------------------

    /// A client name shown in server monitoring; recommended.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Asks the server for `+OK` after every operation.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Asks the server for strict subject checks.
    pub fn pedantic(mut self, pedantic: bool) -> Self {
        self.pedantic = pedantic;
        self
    }

    /// When true, messages this client publishes are not delivered to its
    /// own subscriptions.
    pub fn no_echo(mut self, no_echo: bool) -> Self {
        self.no_echo = no_echo;
        self
    }

    /// When true, the servers are tried in the given order instead of a
    /// shuffled one (nats.deno `noRandomize`).
    pub fn no_randomize(mut self, no_randomize: bool) -> Self {
        self.no_randomize = no_randomize;
        self
    }

    /// Accepted for parity with nats.deno `noResolve`; for now host names
    /// are always resolved by the OS resolver.
    pub fn no_resolve(mut self, no_resolve: bool) -> Self {
        self.no_resolve = no_resolve;
        self
    }

    /// Traces the protocol through `tracing` at debug level, credentials
    /// redacted.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Ignores the cluster topology (`connect_urls`) the server announces.
    pub fn ignore_cluster_updates(mut self, ignore: bool) -> Self {
        self.ignore_cluster_updates = ignore;
        self
    }

    /// Keeps reconnecting even after repeated authentication errors
    /// (normally two in a row abort).
    pub fn ignore_auth_error_abort(mut self, ignore: bool) -> Self {
        self.ignore_auth_error_abort = ignore;
        self
    }

    /// Opens every connection with `connector` instead of TCP: it is given
    /// the server's `host:port` and returns a byte stream (an in-memory
    /// pipe to a simulated server, a proxy, a Unix socket...). The NATS
    /// handshake, reconnects and everything above run unchanged over it.
    /// TLS is not available over a custom connector.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// use nats_actix::options::Connector;
    /// use std::sync::Arc;
    ///
    /// // Every "server" is the far end of an in-memory pipe (dropped here,
    /// // so the handshake would fail with end of stream).
    /// let connector: Connector = Arc::new(|_addr: &str| {
    ///     let (client, _server) = tokio::io::duplex(64 * 1024);
    ///     let io: Box<dyn nats_actix::options::Io> = Box::new(client);
    ///     Box::pin(async move { Ok(io) })
    /// });
    /// let opts = ConnectOptions::new().server("sim-a:4222").connector(connector);
    /// assert!(format!("{opts:?}").contains("connector: true"));
    /// ```
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Seeds every random choice of the client (pool shuffle, reconnect
    /// jitter, the request inbox and tokens, [`Client::new_inbox`](crate::Client::new_inbox)) from `seed`, so that a run
    /// can be replayed exactly (the simulation tests use it). Without it
    /// they come from the OS. Request tokens then stop being
    /// unguessable: do not seed a production client.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = nats_actix::ConnectOptions::new().rng_seed(42);
    /// assert!(format!("{opts:?}").contains("rng_seed: Some(42)"));
    /// ```
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// The prefix of generated inbox subjects; must be a valid publish
    /// subject without wildcards (checked by [`validate`](Self::validate)).
    pub fn inbox_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inbox_prefix = prefix.into();
        self
    }

    // ----- liveness -------------------------------------------------------

    /// How many pings may go unanswered before the connection is stale.
    pub fn max_ping_out(mut self, max: usize) -> Self {
        self.max_ping_out = max;
        self
    }

    /// The interval between client pings.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long to wait for a connection (TCP, TLS and the `INFO`/`CONNECT`
    /// handshake) to be established (nats.deno `timeout`).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// When true, a first connect that fails on every server goes on as a
    /// reconnect (with `Reconnecting` events, the time wait and the
    /// attempt limits) and [`Client::connect`](crate::Client::connect)
    /// resolves once a server answers; when false (the default) it fails
    /// at once with the last server's error.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().wait_on_first_connect(true);
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn wait_on_first_connect(mut self, wait: bool) -> Self {
        self.wait_on_first_connect = wait;
        self
    }

    // ----- reconnect ------------------------------------------------------

    /// Whether to reconnect after the connection is lost (true by
    /// default). When false the first loss closes the client, and
    /// [`Client::closed`](crate::Client::closed) gives the reason.
    ///
    /// While reconnecting, subscriptions are kept (and replayed with what
    /// remains of their `max` before anything else), publishes go to the
    /// reconnect buffer (see
    /// [`reconnect_buffer_size`](ConnectOptions::reconnect_buffer_size)),
    /// flushes wait for the new connection, and requests end with a reply
    /// or a typed error within their timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().reconnect(false);
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// The maximum reconnect attempts **per server** (10 by default); any
    /// negative value (as nats.deno's `-1`) means unlimited. A server that
    /// has used its attempts leaves the pool; its count starts again after
    /// a successful connect to it (as in nats.go). When the pool is empty
    /// the client closes with `MaxReconnects`.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().max_reconnect_attempts(-1);
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn max_reconnect_attempts(mut self, attempts: i64) -> Self {
        self.max_reconnect_attempts = if attempts < 0 {
            None
        } else {
            Some(usize::try_from(attempts).unwrap_or(usize::MAX))
        };
        self
    }

    /// The wait between rounds of reconnect attempts (2 s by default). As
    /// in nats.go, the client tries every server of the pool once without
    /// waiting (the one just lost last), then waits this long plus a random
    /// jitter before the next round: a cluster fails over at once, a lone
    /// server is retried at this pace.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = nats_actix::ConnectOptions::new().reconnect_time_wait(Duration::from_millis(250));
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn reconnect_time_wait(mut self, wait: Duration) -> Self {
        self.reconnect_time_wait = wait;
        self
    }

    /// The maximum random delay added to the reconnect wait.
    pub fn reconnect_jitter(mut self, jitter: Duration) -> Self {
        self.reconnect_jitter = jitter;
        self
    }

    /// The maximum random delay added to the reconnect wait when TLS is in
    /// use.
    pub fn reconnect_jitter_tls(mut self, jitter: Duration) -> Self {
        self.reconnect_jitter_tls = jitter;
        self
    }

    /// A function of the round number (1, 2, ... since the loss) returning
    /// the wait before that round of reconnect attempts; replaces time wait
    /// plus jitter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // Exponential backoff, capped at 5 s.
    /// let o = nats_actix::ConnectOptions::new().reconnect_delay_handler(|round| {
    ///     Duration::from_millis(100u64.saturating_mul(1 << round.min(6))).min(Duration::from_secs(5))
    /// });
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn reconnect_delay_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(usize) -> Duration + Send + Sync + 'static,
    {
        self.reconnect_delay_handler = Some(Arc::new(handler));
        self
    }

    /// Sends every status event, from the first `Connected` on, to
    /// `recipient` (may be given several times). After connecting,
    /// [`Client::add_event_recipient`](crate::Client::add_event_recipient)
    /// does the same.
    pub fn event_recipient(mut self, recipient: actix::Recipient<crate::Event>) -> Self {
        self.event_recipients.push(recipient);
        self
    }

    /// The bytes of publishes buffered while reconnecting (8 MiB by
    /// default), written once connected again, in order, after the
    /// subscriptions are replayed. The publish that would overflow it gets
    /// a `BufferFull` error; 0 disables buffering (publishes fail with
    /// `NotConnected` while disconnected).
    ///
    /// What was queued to a link when it dropped: the batch the socket had
    /// been given is not sent again (part of it may have reached the
    /// server, and core NATS is at most once: sending it again could
    /// duplicate); publishes never handed to the socket are kept and go out
    /// after the reconnect, once. No frame is ever sent cut in two.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().reconnect_buffer_size(1 << 20);
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn reconnect_buffer_size(mut self, size: usize) -> Self {
        self.reconnect_buffer_size = size;
        self
    }

    /// How long a drain waits for the messages already delivered to be
    /// handled (30 s, as nats.go). Past it the client closes anyway and
    /// [`Client::closed`](crate::Client::closed) reports `TimedOut`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = nats_actix::ConnectOptions::new().drain_timeout(Duration::from_secs(5));
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// When the server announces lame duck mode (it is shutting down and
    /// will evict its clients), reconnect at once to another server of
    /// the pool instead of waiting to be evicted. The `LameDuckMode` event
    /// fires either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().reconnect_on_lame_duck(true);
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn reconnect_on_lame_duck(mut self, on: bool) -> Self {
        self.reconnect_on_lame_duck = on;
        self
    }

    // ----- authentication -------------------------------------------------

    /// The user name. Credentials in a server URL take precedence.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The password. Credentials in a server URL take precedence.
    pub fn pass(mut self, pass: impl Into<String>) -> Self {
        self.pass = Some(pass.into());
        self
    }

    /// The authentication token. Credentials in a server URL take
    /// precedence.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticates with an nkey: the user seed (`SU...`) signs the
    /// server's nonce. The same as
    /// `.authenticator(Authenticator::nkey_seed(seed))`.
    ///
    /// # Examples
    ///
    /// ```
    /// let seed = nkeys::KeyPair::new_user().seed().unwrap();
    /// assert!(nats_actix::ConnectOptions::new().nkey(seed).validate().is_ok());
    /// ```
    pub fn nkey(self, seed: impl Into<String>) -> Self {
        self.authenticator(crate::auth::Authenticator::nkey_seed(seed))
    }

    /// Authenticates with an nkey whose seed is in a file (read on each
    /// connect).
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().nkey_file("/no/such/user.nk");
    /// assert!(o.validate().is_err());
    /// ```
    pub fn nkey_file(self, path: impl Into<PathBuf>) -> Self {
        self.authenticator(crate::auth::Authenticator::nkey_file(path))
    }

    /// Authenticates with a creds file (user JWT and seed), re-read on
    /// each connect. The same as
    /// `.authenticator(Authenticator::creds_file(path))`.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = nats_actix::ConnectOptions::new().credentials_file("/no/such/app.creds");
    /// assert!(o.validate().is_err(), "validate reads the file");
    /// ```
    pub fn credentials_file(self, path: impl Into<PathBuf>) -> Self {
        self.authenticator(crate::auth::Authenticator::creds_file(path))
    }

    /// How to authenticate: nkey, JWT, creds, or user/password and token
    /// as [`Authenticator`](crate::auth::Authenticator)s (see
    /// [`auth`](crate::auth)). One mode per client: giving an
    /// authenticator together with `user`/`pass`/`token` is rejected by
    /// [`validate`](ConnectOptions::validate). Credentials in a server URL
    /// still win for that server.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::{ConnectOptions, auth::Authenticator};
    /// let o = ConnectOptions::new().authenticator(Authenticator::token("t0k3n"));
    /// assert!(o.validate().is_ok());
    /// ```
    pub fn authenticator(mut self, auth: crate::auth::Authenticator) -> Self {
        self.auth = Some(auth);
        self
    }

    // ----- TLS ------------------------------------------------------------

    /// Requires TLS on every server, as if each were `tls://`: a server
    /// whose `INFO` offers no TLS is refused before `CONNECT` is sent. Any
    /// other TLS option implies it; without any, the client still upgrades
    /// when the server requires TLS (verifying it against the system
    /// roots).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// let opts = ConnectOptions::new().server("nats://127.0.0.1:4222").tls_required(true);
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn tls_required(mut self, required: bool) -> Self {
        self.tls_required = required;
        self
    }

    /// The TLS options (nats.deno's `tls`): CA, client certificate and
    /// key (PEM bytes or files), `handshake_first`. Setting them, even
    /// empty, requires TLS. Replaces the TLS options set before (not
    /// [`tls_required`](Self::tls_required)).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// use nats_actix::options::TlsOptions;
    /// let opts = ConnectOptions::new().server("nats://127.0.0.1:4222").tls(
    ///     TlsOptions::new()
    ///         .ca_file("/etc/nats/ca.pem")
    ///         .cert_file("/etc/nats/client-cert.pem")
    ///         .key_file("/etc/nats/client-key.pem"),
    /// );
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self.tls.set = true;
        self
    }

    /// A PEM file of CA certificates to trust instead of the system roots
    /// (the same as [`TlsOptions::ca_file`]). Requires TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// let opts = ConnectOptions::new().tls_ca_file("/etc/nats/ca.pem");
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_file = Some(path.into());
        self.tls.set = true;
        self
    }

    /// A client certificate chain and its private key, as PEM files (the
    /// same as [`TlsOptions::cert_file`] and [`TlsOptions::key_file`]).
    /// Requires TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// let opts = ConnectOptions::new()
    ///     .tls_ca_file("/etc/nats/ca.pem")
    ///     .tls_client_cert("/etc/nats/client-cert.pem", "/etc/nats/client-key.pem");
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn tls_client_cert(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.tls.cert_file = Some(cert_path.into());
        self.tls.key_file = Some(key_path.into());
        self.tls.set = true;
        self
    }

    /// Starts TLS before the server's `INFO` (the same as
    /// [`TlsOptions::handshake_first`]): for servers (2.10 or later)
    /// configured with `tls { handshake_first: true }`. `true` requires
    /// TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// let opts = ConnectOptions::new().tls_handshake_first(true);
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn tls_handshake_first(mut self, first: bool) -> Self {
        self.tls.handshake_first = first;
        self.tls.set |= first;
        self
    }

    /// A complete rustls client configuration, for full control (custom
    /// verifiers, ALPN, key logging, ...): it replaces the CA, certificate
    /// and key options, which must not be given with it. Requires TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nats_actix::ConnectOptions;
    /// use nats_actix::tls::{ClientConfig, rustls};
    ///
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let opts = ConnectOptions::new().tls_client_config(Arc::new(config));
    /// assert!(opts.validate().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_client_config(mut self, config: Arc<crate::tls::ClientConfig>) -> Self {
        self.tls.client_config = Some(config);
        self.tls.set = true;
        self
    }

    // ----- limits (beyond nats.deno) ----------------------------------------

    /// The default pending message limit of each subscription: 524,288,
    /// as nats.go. Messages count as pending from delivery until the user
    /// drops them; the byte limit (64 MiB) bounds the memory.
    pub fn pending_msgs_limit(mut self, limit: usize) -> Self {
        self.pending_msgs_limit = limit;
        self
    }

    /// The default pending byte limit of each subscription.
    pub fn pending_bytes_limit(mut self, limit: usize) -> Self {
        self.pending_bytes_limit = limit;
        self
    }

    /// The default timeout of a request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The backpressure bound of the connection's write buffer.
    pub fn write_buffer_limit(mut self, limit: usize) -> Self {
        self.write_buffer_limit = limit;
        self
    }

    /// The longest control line the parser accepts from the server.
    pub fn max_control_line(mut self, max: usize) -> Self {
        self.max_control_line = max;
        self
    }

    /// The largest payload the parser accepts, whatever the server
    /// announces as `max_payload`.
    pub fn max_payload_ceiling(mut self, max: usize) -> Self {
        self.max_payload_ceiling = max;
        self
    }

    /// The buffered bytes at which the connection flushes without waiting
    /// for the end of the batch.
    pub fn flush_watermark(mut self, watermark: usize) -> Self {
        self.flush_watermark = watermark;
        self
    }

    // ----- checks ---------------------------------------------------------

    /// Checks the options: deferred server-parse errors, the inbox prefix,
    /// intervals, timeouts and limits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] whose source says which option is
    /// wrong and why.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use nats_actix::{ErrorKind, options::ConnectOptions};
    /// let err = ConnectOptions::new()
    ///     .ping_interval(Duration::ZERO)
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// assert_eq!(err.to_string(), "invalid argument: ping_interval must be greater than zero");
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(e) = &self.server_error {
            return Err(invalid(format!("invalid server address: {e}")));
        }
        if self.servers.is_empty() && self.port == 0 {
            return Err(invalid("port must not be 0"));
        }
        if let Some(a) = &self.auth {
            if self.user.is_some() || self.pass.is_some() || self.token.is_some() {
                return Err(invalid(
                    "give one authentication mode: an authenticator (nkey, JWT, creds) \
                     together with user/pass or token is ambiguous",
                ));
            }
            a.validate()?;
        }
        if self.token.is_some() && (self.user.is_some() || self.pass.is_some()) {
            return Err(invalid(
                "give one authentication mode: a token together with user/pass is ambiguous",
            ));
        }
        if self.drain_timeout.is_zero() {
            return Err(invalid("drain_timeout must be greater than zero"));
        }
        if self.inbox_prefix.is_empty() {
            return Err(invalid("inbox_prefix must not be empty"));
        }
        if let Err(e) = validate_publish(&self.inbox_prefix) {
            return Err(invalid(format!(
                "inbox_prefix '{}' is not a valid subject: {e}",
                self.inbox_prefix
            )));
        }
        if self.ping_interval.is_zero() {
            return Err(invalid("ping_interval must be greater than zero"));
        }
        if self.max_ping_out == 0 {
            return Err(invalid("max_ping_out must be at least 1"));
        }
        if self.connection_timeout.is_zero() {
            return Err(invalid("connection_timeout must be greater than zero"));
        }
        if self.request_timeout.is_zero() {
            return Err(invalid("request_timeout must be greater than zero"));
        }
        let positive = [
            ("pending_msgs_limit", self.pending_msgs_limit),
            ("pending_bytes_limit", self.pending_bytes_limit),
            ("write_buffer_limit", self.write_buffer_limit),
            ("max_control_line", self.max_control_line),
            ("max_payload_ceiling", self.max_payload_ceiling),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(format!("{name} must be greater than zero")));
            }
        }
        self.tls.validate()?;
        Ok(())
    }

    /// Whether the options require TLS on every server: `tls_required`
    /// or any TLS option.
    pub(crate) fn tls_wanted(&self) -> bool {
        self.tls_required || self.tls.set
    }

    /// The `CONNECT` options for `server`. Credentials in the server's URL
    /// take precedence: when it has any, only they are sent; otherwise the
    /// user, password and token options are.
    /// The authenticator for `server`: the URL's credentials when it has
    /// some (sent only to that server), else the options'.
    pub(crate) fn auth_for(&self, server: &ServerAddr) -> Option<crate::auth::Authenticator> {
        use crate::auth::Authenticator;
        if server.has_credentials() {
            return match (&server.user, &server.pass, &server.token) {
                (Some(u), p, _) => Some(Authenticator::user_password(
                    u.clone(),
                    p.clone().unwrap_or_default(),
                )),
                (None, _, Some(t)) => Some(Authenticator::token(t.clone())),
                _ => None,
            };
        }
        if let Some(a) = &self.auth {
            return Some(a.clone());
        }
        match (&self.user, &self.pass, &self.token) {
            (Some(u), p, _) => Some(Authenticator::user_password(
                u.clone(),
                p.clone().unwrap_or_default(),
            )),
            (None, _, Some(t)) => Some(Authenticator::token(t.clone())),
            _ => None,
        }
    }

    /// The CONNECT for `server`, with the credentials of this connect
    /// (the nonce signed where the mode needs it).
    pub(crate) fn connect_info(
        &self,
        server: &ServerAddr,
        nonce: Option<&str>,
    ) -> Result<ConnectInfo, Error> {
        let creds = match self.auth_for(server) {
            Some(a) => a.credentials(nonce)?,
            None => crate::auth::Credentials::default(),
        };
        Ok(ConnectInfo {
            verbose: self.verbose,
            pedantic: self.pedantic,
            tls_required: self.tls_required || server.tls_required,
            name: self.name.clone(),
            echo: !self.no_echo,
            headers: true,
            no_responders: true,
            user: creds.user,
            pass: creds.pass,
            auth_token: creds.auth_token,
            jwt: creds.jwt,
            nkey: creds.nkey,
            sig: creds.sig,
            ..ConnectInfo::default()
        })
    }
}

#[cfg(test)]
mod tests;
