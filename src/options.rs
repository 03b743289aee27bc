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

// ---------------------------------------------------------------------------
// ServerAddr
// ---------------------------------------------------------------------------

/// A parsed server address.
///
/// Accepted forms: `nats://host:port`, `tls://host:port` (TLS required),
/// bare `host`, `host:port`, IPv4 literals, `[::1]:4222`, `[::1]` and bare
/// IPv6 literals such as `::1` (two or more colons without brackets: the
/// whole string is the host and the port is the default). User info may be
/// given as `user:pass@` or as `token@` (a user part without a password is a
/// token, as in nats.go and nats.deno), percent-encoded where needed (`/`,
/// `?` and `#` must be, as with nats.go's `url.Parse`; a raw `@` may stay,
/// the last one ends the user info). The default port is 4222; surrounding
/// whitespace and a trailing `/` are ignored, while control characters
/// inside are refused. IPv6 hosts come out in canonical form. WebSocket
/// schemes (`ws://`, `wss://`) are rejected. Parsing uses the `url` crate.
///
/// `Display` and `Debug` never show the password or token.
///
/// # Examples
///
/// ```
/// use nats_actix::options::ServerAddr;
///
/// let addr: ServerAddr = "tls://alice:s%40cret@[::1]:4443".parse()?;
/// assert_eq!(addr.host(), "::1");
/// assert_eq!(addr.port(), 4443);
/// assert!(addr.tls_required());
/// assert_eq!(addr.user(), Some("alice"));
/// assert_eq!(addr.pass(), Some("s@cret"));
/// assert!(addr.is_ip());
/// assert_eq!(addr.socket_addr_string(), "[::1]:4443");
/// assert_eq!(addr.to_string(), "tls://[::1]:4443");
///
/// let addr = ServerAddr::parse("localhost")?;
/// assert_eq!(addr.to_string(), "nats://localhost:4222");
/// # Ok::<(), nats_actix::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    host: String,
    port: u16,
    tls_required: bool,
    user: Option<String>,
    pass: Option<String>,
    token: Option<String>,
}

impl ServerAddr {
    /// Parses a server address (see the type's documentation for the
    /// accepted forms).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty string, an unknown or
    /// WebSocket scheme, an empty host, a port that is not a number in
    /// `1..=65535`, a path, or malformed user info.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::{ErrorKind, options::ServerAddr};
    /// assert_eq!(ServerAddr::parse("demo.nats.io:4443")?.port(), 4443);
    /// let err = ServerAddr::parse("ws://demo.nats.io").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), nats_actix::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<ServerAddr, Error> {
        parse_addr(s).map_err(invalid)
    }

    /// The host name or IP literal (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the address uses the `tls://` scheme.
    pub fn tls_required(&self) -> bool {
        self.tls_required
    }

    /// The user name from the address's user info, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password from the address's user info, if any.
    pub fn pass(&self) -> Option<&str> {
        self.pass.as_deref()
    }

    /// The token from the address's user info (a user part with no
    /// password), if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the address carries a user, password or token.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::ServerAddr;
    /// assert!(ServerAddr::parse("nats://t0k3n@host")?.has_credentials());
    /// assert!(!ServerAddr::parse("nats://host")?.has_credentials());
    /// # Ok::<(), nats_actix::Error>(())
    /// ```
    pub fn has_credentials(&self) -> bool {
        self.user.is_some() || self.pass.is_some() || self.token.is_some()
    }

    /// Whether the host is an IP literal (rather than a name to resolve).
    pub fn is_ip(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }

    /// `host:port`, with brackets around an IPv6 host, ready for
    /// `TcpStream::connect`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::ServerAddr;
    /// assert_eq!(ServerAddr::parse("::1")?.socket_addr_string(), "[::1]:4222");
    /// assert_eq!(ServerAddr::parse("host:1")?.socket_addr_string(), "host:1");
    /// # Ok::<(), nats_actix::Error>(())
    /// ```
    pub fn socket_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls_required { "tls" } else { "nats" }
    }
}

impl fmt::Display for ServerAddr {
    /// `scheme://host:port`, credentials left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.socket_addr_string())
    }
}

impl fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAddr")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls_required", &self.tls_required)
            .field("user", &self.user)
            .field("pass", &redact(&self.pass))
            .field("token", &redact(&self.token))
            .finish()
    }
}

impl FromStr for ServerAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerAddr::parse(s)
    }
}

fn redact(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

/// Parses one address; the error is a message that never contains user
/// info.
///
/// The parsing itself is done by the `url` crate (WHATWG URL rules for the
/// non-special schemes `nats` and `tls`); around it, this function adds what
/// a NATS address needs: a missing scheme means `nats://`, a bare IPv6
/// literal is bracketed, the port defaults to 4222, user info is
/// percent-decoded strictly, and the forms `url` accepts but a server address
/// cannot have (empty port, port 0, empty user info, a path, a query, tabs or
/// newlines that `url` would silently drop) are rejected with a precise
/// message.
fn parse_addr(s: &str) -> Result<ServerAddr, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty server address".to_string());
    }
    // `url` strips tabs and newlines anywhere in its input: refuse them (and
    // any other control character) rather than connect somewhere else.
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("invalid character {c:?} in server address"));
    }

    let (scheme, rest) = match s.find("://") {
        Some(i) => (&s[..i], &s[i + 3..]),
        None => ("nats", s),
    };
    let tls_required = match scheme.to_ascii_lowercase().as_str() {
        "nats" => false,
        "tls" => true,
        "ws" | "wss" => {
            return Err(format!("websocket not supported (scheme '{scheme}')"));
        }
        _ => return Err(format!("unknown scheme '{scheme}' (expected nats or tls)")),
    };

    // The authority as `url` sees it: up to the first '/', '?' or '#'. An
    // '@' beyond it means user info holding one of those unencoded.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.contains('@') {
        return Err("unexpected path, query or fragment after the host \
                    (percent-encode '/', '?' and '#' in user info)"
            .to_string());
    }
    // User info ends at the last '@' so unencoded '@' in a password works
    // (`url` encodes the earlier ones as %40).
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    match userinfo {
        Some("") => return Err("empty user info before '@'".to_string()),
        Some(info) if info.starts_with(':') => {
            return Err("empty user name in user info".to_string());
        }
        _ => {}
    }

    // Two or more colons without brackets: a bare IPv6 literal, the whole
    // thing is the host.
    let bare_ipv6 = !hostport.starts_with('[') && hostport.matches(':').count() >= 2;
    if !bare_ipv6 {
        if hostport.is_empty() || hostport.starts_with(':') || hostport.starts_with("[]") {
            return Err("empty host".to_string());
        }
        if hostport.ends_with(':') {
            return Err("empty port".to_string());
        }
        if let Some(i) = hostport.find('%') {
            // `url` accepts percent-encoded names; a host name has no '%'.
            return Err(format!(
                "invalid character '%' in host '{}'",
                &hostport[..i]
            ));
        }
    }

    let mut input = String::with_capacity(s.len() + 10);
    input.push_str(if tls_required { "tls://" } else { "nats://" });
    if let Some(info) = userinfo {
        input.push_str(info);
        input.push('@');
    }
    if bare_ipv6 {
        input.push('[');
        input.push_str(hostport);
        input.push(']');
    } else {
        input.push_str(hostport);
    }
    input.push_str(tail);
    let url = Url::parse(&input).map_err(|e| describe_url_error(e, hostport, bare_ipv6))?;

    let host = match url.host() {
        Some(Host::Domain(name)) => percent_decode(name, "host")?,
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("empty host".to_string()),
    };
    if host.is_empty() {
        return Err("empty host".to_string());
    }
    let port = match url.port() {
        None => DEFAULT_PORT,
        Some(0) => return Err("invalid port '0': must be in 1..=65535".to_string()),
        Some(port) => port,
    };
    // Tolerate trailing slashes; anything else after the authority is a
    // path we do not support. Checked on the raw text: `url` resolves dot
    // segments ("host/./" has the path "/").
    if !tail.bytes().all(|b| b == b'/') || url.query().is_some() || url.fragment().is_some() {
        return Err("unexpected path, query or fragment after the host".to_string());
    }

    // `url` keeps user info percent-encoded (and drops an empty password):
    // decide token versus user and password from the raw text.
    let (user, pass, token) = match userinfo {
        None => (None, None, None),
        Some(info) if info.contains(':') => (
            Some(percent_decode(url.username(), "user info")?),
            Some(percent_decode(url.password().unwrap_or(""), "user info")?),
            None,
        ),
        Some(_) => (
            None,
            None,
            Some(percent_decode(url.username(), "user info")?),
        ),
    };

    Ok(ServerAddr {
        host,
        port,
        tls_required,
        user,
        pass,
        token,
    })
}

/// Turns a `url` error into a message about the host and port (never the
/// user info), using the raw `hostport` text for precision.
fn describe_url_error(e: url::ParseError, hostport: &str, bare_ipv6: bool) -> String {
    use url::ParseError as P;
    match e {
        P::EmptyHost => "empty host".to_string(),
        P::InvalidPort => {
            let port = match hostport.rfind(']') {
                Some(i) => hostport[i + 1..].strip_prefix(':').unwrap_or(""),
                None => hostport.rsplit_once(':').map_or("", |(_, p)| p),
            };
            match parse_port(port) {
                Err(msg) => msg,
                Ok(_) => format!("invalid port '{port}'"),
            }
        }
        P::InvalidIpv6Address if bare_ipv6 => format!("invalid IPv6 address '{hostport}'"),
        P::InvalidIpv6Address => {
            let inner = hostport.strip_prefix('[').unwrap_or(hostport);
            match inner.find(']') {
                None => "missing ']' after IPv6 address".to_string(),
                Some(end) => {
                    let after = &inner[end + 1..];
                    if after.is_empty() || after.starts_with(':') {
                        format!("invalid IPv6 address '{}'", &inner[..end])
                    } else {
                        format!("unexpected '{after}' after IPv6 address")
                    }
                }
            }
        }
        P::InvalidDomainCharacter => {
            let host = hostport.split_once(':').map_or(hostport, |(h, _)| h);
            match host.chars().find(|c| {
                c.is_whitespace() || matches!(c, '<' | '>' | '[' | ']' | '\\' | '^' | '|' | '@')
            }) {
                Some(c) => format!("invalid character {c:?} in host '{host}'"),
                None => format!("invalid character in host '{host}'"),
            }
        }
        other => format!("invalid server address: {other}"),
    }
}

fn percent_decode(s: &str, what: &str) -> Result<String, String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => return Err(format!("invalid percent-encoding in {what}")),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{what} is not valid UTF-8 once decoded"))
}

fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Err("empty port".to_string());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port '{port}': not a number"));
    }
    match port.parse::<u16>() {
        Ok(n) if n != 0 => Ok(n),
        _ => Err(format!("invalid port '{port}': must be in 1..=65535")),
    }
}

/// Parses each entry of a comma-separated list into a [`ServerAddr`];
/// blank entries (as left by a trailing comma) are skipped.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] when an entry does not parse or the list
/// holds no address at all.
///
/// # Examples
///
/// ```
/// use nats_actix::options::parse_servers;
/// let servers = parse_servers("nats://a:4222, tls://b:4443,")?;
/// assert_eq!(servers.len(), 2);
/// assert!(servers[1].tls_required());
/// assert!(parse_servers(" , ").is_err());
/// # Ok::<(), nats_actix::Error>(())
/// ```
pub fn parse_servers(list: &str) -> Result<Vec<ServerAddr>, Error> {
    let servers = parse_list(list).map_err(invalid)?;
    if servers.is_empty() {
        return Err(invalid("empty server list"));
    }
    Ok(servers)
}

fn parse_list(list: &str) -> Result<Vec<ServerAddr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(parse_addr)
        .collect()
}

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

/// TLS options, after nats.deno's `TlsOptions` table: the CA to trust,
/// the client certificate and its key (each as PEM bytes or a PEM file),
/// and `handshake_first`. Give them with [`ConnectOptions::tls`]; any of
/// them (even none: an empty `TlsOptions`) makes TLS required.
///
/// | option | default | |
/// |---|---|---|
/// | `ca` / `ca_file` | none: the system roots | CA certificates (PEM); both may be given |
/// | `cert` / `cert_file` | none | the client certificate chain (PEM) |
/// | `key` / `key_file` | none | the client certificate's private key (PEM) |
/// | `handshake_first` | false | TLS before the server's `INFO` (server ≥ 2.10) |
///
/// Files are read at every connect attempt, so certificates rotated on
/// disk are used at the next reconnect. One PEM file holding the CA, the
/// certificate and the key may be given for all three. For anything else,
/// give a whole rustls configuration with
/// [`ConnectOptions::tls_client_config`]. `Debug` redacts the key.
///
/// # Examples
///
/// ```
/// use nats_actix::ConnectOptions;
/// use nats_actix::options::TlsOptions;
///
/// let tls = TlsOptions::new()
///     .ca_file("/etc/nats/ca.pem")
///     .cert_file("/etc/nats/client.pem")
///     .key_file("/etc/nats/client.pem");
/// let opts = ConnectOptions::new().server("nats.example:4222").tls(tls);
/// assert!(opts.validate().is_ok());
///
/// // A certificate without its key cannot work.
/// let bad = ConnectOptions::new().tls(TlsOptions::new().cert_file("/etc/nats/client.pem"));
/// assert!(bad.validate().is_err());
/// ```
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Any TLS option was given: TLS is required.
    pub(crate) set: bool,
    pub(crate) ca: Option<Vec<u8>>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert: Option<Vec<u8>>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key: Option<zeroize::Zeroizing<Vec<u8>>>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) handshake_first: bool,
    pub(crate) client_config: Option<Arc<crate::tls::ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("set", &self.set)
            .field("ca", &self.ca.as_ref().map(|c| c.len()))
            .field("ca_file", &self.ca_file)
            .field("cert", &self.cert.as_ref().map(|c| c.len()))
            .field("cert_file", &self.cert_file)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field("handshake_first", &self.handshake_first)
            .field(
                "client_config",
                &self.client_config.as_ref().map(|_| "<rustls>"),
            )
            .finish()
    }
}

impl TlsOptions {
    /// No TLS option yet (the system roots, no client certificate); given
    /// to [`ConnectOptions::tls`], it still requires TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::ConnectOptions;
    /// use nats_actix::options::TlsOptions;
    /// let opts = ConnectOptions::new().server("tls://demo.nats.io").tls(TlsOptions::new());
    /// assert!(opts.validate().is_ok());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// CA certificates to trust, as PEM text (nats.deno `ca`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let pem = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// let tls = TlsOptions::new().ca(pem.to_vec());
    /// # let _ = tls;
    /// ```
    pub fn ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// A PEM file of CA certificates to trust (nats.deno `caFile`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new().ca_file("/etc/nats/ca.pem");
    /// # let _ = tls;
    /// ```
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The client certificate chain as PEM text, leaf first or with the
    /// leaf found by its key (nats.deno `cert`). Needs a key.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// # let (cert_pem, key_pem) = (String::new(), String::new());
    /// let tls = TlsOptions::new().cert(cert_pem).key(key_pem);
    /// # let _ = tls;
    /// ```
    pub fn cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.cert = Some(pem.into());
        self
    }

    /// A PEM file with the client certificate chain (nats.deno
    /// `certFile`). Needs a key.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new()
    ///     .cert_file("/etc/nats/client-cert.pem")
    ///     .key_file("/etc/nats/client-key.pem");
    /// # let _ = tls;
    /// ```
    pub fn cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(path.into());
        self
    }

    /// The client certificate's private key as PEM text (PKCS#8, PKCS#1
    /// or SEC1; nats.deno `key`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// # let (cert_pem, key_pem) = (String::new(), String::new());
    /// let tls = TlsOptions::new().cert(cert_pem).key(key_pem);
    /// # let _ = tls;
    /// ```
    pub fn key(mut self, pem: impl Into<Vec<u8>>) -> Self {
        // Zeroed when the options are dropped.
        self.key = Some(zeroize::Zeroizing::new(pem.into()));
        self
    }

    /// A PEM file with the client certificate's private key (nats.deno
    /// `keyFile`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// // One PEM file with the CA, the certificate and the key.
    /// let tls = TlsOptions::new()
    ///     .ca_file("/etc/nats/all.pem")
    ///     .cert_file("/etc/nats/all.pem")
    ///     .key_file("/etc/nats/all.pem");
    /// # let _ = tls;
    /// ```
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// Starts TLS before the server's `INFO` (nats.deno `handshakeFirst`),
    /// for servers (2.10 or later) configured with
    /// `tls { handshake_first: true }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nats_actix::options::TlsOptions;
    /// let tls = TlsOptions::new().ca_file("/etc/nats/ca.pem").handshake_first(true);
    /// # let _ = tls;
    /// ```
    pub fn handshake_first(mut self, first: bool) -> Self {
        self.handshake_first = first;
        self
    }

    /// A complete rustls client configuration (see
    /// [`ConnectOptions::tls_client_config`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nats_actix::options::TlsOptions;
    /// use nats_actix::tls::{ClientConfig, rustls};
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = TlsOptions::new().client_config(Arc::new(config)).handshake_first(true);
    /// # let _ = tls;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_config(mut self, config: Arc<crate::tls::ClientConfig>) -> Self {
        self.client_config = Some(config);
        self
    }

    /// Rejects what cannot work: a certificate without its key (or the
    /// reverse), a certificate or key given both as text and as a file,
    /// and a whole rustls configuration together with CA/cert/key options.
    fn validate(&self) -> Result<(), Error> {
        let cert = self.cert.is_some() || self.cert_file.is_some();
        let key = self.key.is_some() || self.key_file.is_some();
        if cert && !key {
            return Err(invalid(
                "tls: a client certificate needs its key (key or key_file)",
            ));
        }
        if key && !cert {
            return Err(invalid(
                "tls: a client key needs its certificate (cert or cert_file)",
            ));
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return Err(invalid("tls: give cert or cert_file, not both"));
        }
        if self.key.is_some() && self.key_file.is_some() {
            return Err(invalid("tls: give key or key_file, not both"));
        }
        let ca = self.ca.is_some() || self.ca_file.is_some();
        if self.client_config.is_some() && (ca || cert) {
            return Err(invalid(
                "tls: a whole client configuration replaces ca, cert and key; give one or the other",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ServerAddr {
        match ServerAddr::parse(s) {
            Ok(a) => a,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn reject(s: &str) -> String {
        match ServerAddr::parse(s) {
            Ok(a) => panic!("{s:?} should be rejected, got {a:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{s:?}");
                e.to_string()
            }
        }
    }

    fn hp(a: &ServerAddr) -> (&str, u16, bool) {
        (a.host(), a.port(), a.tls_required())
    }

    #[test]
    fn parses_schemes() {
        assert_eq!(hp(&addr("nats://host:4223")), ("host", 4223, false));
        assert_eq!(hp(&addr("tls://host:4443")), ("host", 4443, true));
        assert_eq!(hp(&addr("NATS://host")), ("host", 4222, false));
        assert_eq!(hp(&addr("tls://host")), ("host", 4222, true));
    }

    #[test]
    fn parses_bare_forms() {
        assert_eq!(hp(&addr("host")), ("host", 4222, false));
        assert_eq!(hp(&addr("host:1234")), ("host", 1234, false));
        assert_eq!(hp(&addr("127.0.0.1")), ("127.0.0.1", 4222, false));
        assert_eq!(hp(&addr("127.0.0.1:65535")), ("127.0.0.1", 65535, false));
        assert_eq!(hp(&addr("demo.nats.io")), ("demo.nats.io", 4222, false));
    }

    #[test]
    fn parses_ipv6() {
        assert_eq!(hp(&addr("[::1]:4222")), ("::1", 4222, false));
        assert_eq!(hp(&addr("[::1]:5000")), ("::1", 5000, false));
        assert_eq!(hp(&addr("[::1]")), ("::1", 4222, false));
        assert_eq!(hp(&addr("::1")), ("::1", 4222, false));
        assert_eq!(hp(&addr("fe80::1:2")), ("fe80::1:2", 4222, false));
        assert_eq!(
            hp(&addr("nats://[2001:db8::1]:7")),
            ("2001:db8::1", 7, false)
        );
        assert_eq!(hp(&addr("tls://[::1]")), ("::1", 4222, true));
        assert!(addr("::1").is_ip());
        assert_eq!(addr("::1").socket_addr_string(), "[::1]:4222");
        assert_eq!(addr("[::1]:9").to_string(), "nats://[::1]:9");
    }

    #[test]
    fn parses_user_info() {
        let a = addr("nats://user:pass@host:4333");
        assert_eq!(a.user(), Some("user"));
        assert_eq!(a.pass(), Some("pass"));
        assert_eq!(a.token(), None);
        assert_eq!(hp(&a), ("host", 4333, false));
        assert!(a.has_credentials());

        let a = addr("nats://s3cr3t@host");
        assert_eq!(a.token(), Some("s3cr3t"));
        assert_eq!(a.user(), None);
        assert_eq!(a.pass(), None);
        assert_eq!(hp(&a), ("host", 4222, false));

        let a = addr("nats://a%40b:p%3Aw%2Fd%25@host");
        assert_eq!(a.user(), Some("a@b"));
        assert_eq!(a.pass(), Some("p:w/d%"));

        // Unencoded '@' in the password: the last '@' ends the user info.
        let a = addr("nats://u:p@ss@host");
        assert_eq!(a.pass(), Some("p@ss"));
        assert_eq!(a.host(), "host");

        let a = addr("user:@host");
        assert_eq!(a.user(), Some("user"));
        assert_eq!(a.pass(), Some(""));

        let a = addr("tls://tok@[::1]:4443");
        assert_eq!(a.token(), Some("tok"));
        assert_eq!(hp(&a), ("::1", 4443, true));

        let a = addr("nats://%E2%9C%93@host");
        assert_eq!(a.token(), Some("✓"));
    }

    #[test]
    fn trims_whitespace_and_trailing_slash() {
        assert_eq!(hp(&addr("  nats://host:4222/  ")), ("host", 4222, false));
        assert_eq!(hp(&addr("host/")), ("host", 4222, false));
        assert_eq!(hp(&addr("\thost:1\n")), ("host", 1, false));
        assert_eq!(hp(&addr("[::1]/")), ("::1", 4222, false));
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!(reject("").contains("empty server address"));
        assert!(reject("   ").contains("empty server address"));
        assert!(reject("ws://host").contains("websocket not supported"));
        assert!(reject("wss://host:443").contains("websocket not supported"));
        assert!(reject("http://host").contains("unknown scheme 'http'"));
        assert!(reject("://host").contains("unknown scheme"));
        assert!(reject("host:abc").contains("not a number"));
        assert!(reject("host:-1").contains("not a number"));
        assert!(reject("host:+1").contains("not a number"));
        assert!(reject("host:0").contains("1..=65535"));
        assert!(reject("host:65536").contains("1..=65535"));
        assert!(reject("host:99999999999999999999").contains("1..=65535"));
        assert!(reject("host:").contains("empty port"));
        assert!(reject("[::1]:").contains("empty port"));
        assert!(reject("[::1]:0").contains("1..=65535"));
        assert!(reject("nats://").contains("empty host"));
        assert!(reject("nats://:4222").contains("empty host"));
        assert!(reject(":4222").contains("empty host"));
        assert!(reject("nats://user:pass@").contains("empty host"));
        assert!(reject("[]:4222").contains("empty host"));
        assert!(reject("[::1").contains("missing ']'"));
        assert!(reject("[::1]x").contains("after IPv6"));
        assert!(reject("[nothost]:1").contains("invalid IPv6"));
        assert!(reject(":::::z").contains("invalid IPv6"));
        assert!(reject("nats://host:4222/path").contains("unexpected path"));
        assert!(reject("nats://host/path/").contains("unexpected path"));
        assert!(reject("nats://host?x=1").contains("unexpected path"));
        assert!(reject("nats://ho st").contains("invalid character"));
        assert!(reject("@host").contains("empty user info"));
        assert!(reject(":pass@host").contains("empty user name"));
        assert!(reject("nats://u:p%zz@host").contains("percent-encoding"));
        assert!(reject("nats://u:p%4@host").contains("percent-encoding"));
        assert!(reject("nats://%ff@host").contains("UTF-8"));
    }

    // Decisions taken when moving to the `url` crate: one test each.

    #[test]
    fn url_user_info_reserved_chars_must_be_encoded() {
        // As nats.go's url.Parse: '/', '?' and '#' end the authority.
        for s in [
            "nats://u:p/w@host",
            "nats://u:p?w@host",
            "nats://u:p#w@host",
        ] {
            let msg = reject(s);
            assert!(msg.contains("percent-encode"), "{msg}");
            assert!(!msg.contains("p/w") && !msg.contains("p?w"), "{msg}");
        }
        assert_eq!(addr("nats://u:p%2Fw%3F%23@host").pass(), Some("p/w?#"));
    }

    #[test]
    fn url_user_info_decoding_is_strict() {
        // `url` leaves bad escapes alone; we reject them.
        assert!(reject("nats://u%2@host").contains("percent-encoding"));
        assert!(reject("nats://%C3%28:x@host").contains("UTF-8"));
        // Characters `url` encodes come back decoded.
        let a = addr("nats://u s:p w\"<>@host");
        assert_eq!((a.user(), a.pass()), (Some("u s"), Some("p w\"<>")));
        assert_eq!(addr("nats://✓:✓@host").pass(), Some("✓"));
        // An empty password stays an empty password (`url` drops it).
        assert_eq!(addr("nats://user:@host").pass(), Some(""));
        assert!(reject("nats://:@host").contains("empty user name"));
    }

    #[test]
    fn url_schemes() {
        // No WebSocket transport: ws and wss are refused, not downgraded.
        assert!(reject("WSS://host").contains("websocket not supported"));
        assert!(reject("https://host").contains("unknown scheme"));
        // "nats:host" has no "://": host "nats", port "host".
        assert!(reject("nats:host").contains("not a number"));
        // A missing scheme means nats://, the scheme is case-insensitive.
        assert_eq!(hp(&addr("Tls://host")), ("host", 4222, true));
        assert_eq!(addr("host:5").to_string(), "nats://host:5");
    }

    #[test]
    fn url_empty_port_and_port_zero_rejected() {
        // `url` reads "host:" as the default port and accepts port 0.
        assert!(reject("nats://host:").contains("empty port"));
        assert!(reject("nats://host:0").contains("1..=65535"));
        assert!(reject("nats://host:00").contains("1..=65535"));
        assert_eq!(addr("nats://host:04222").port(), 4222);
    }

    #[test]
    fn url_inner_control_chars_rejected() {
        // `url` would silently drop these and connect to "host".
        assert!(reject("nats://ho\tst").contains("invalid character"));
        assert!(reject("nats://ho\nst:4222").contains("invalid character"));
        assert!(reject("nats://u:p\rw@host").contains("invalid character"));
        assert!(!reject("nats://u:p\rw@host").contains("p\rw"));
    }

    #[test]
    fn url_host_characters() {
        // No percent-encoded host names; `url`'s forbidden host characters
        // are refused; non-ASCII names are kept verbatim (no IDNA, as the
        // schemes are not special ones).
        assert!(reject("nats://h%41st").contains("invalid character '%'"));
        for s in ["h<st", "h>st", "h^st", "h|st", "h\\st"] {
            assert!(reject(s).contains("invalid character"), "{s}");
        }
        assert_eq!(addr("nats://hôst:1").host(), "hôst");
        assert_eq!(addr("Demo.NATS.io").host(), "Demo.NATS.io");
    }

    #[test]
    fn url_ipv6_is_canonical() {
        assert_eq!(addr("[0:0::1]").host(), "::1");
        assert_eq!(addr("2001:DB8:0::1").host(), "2001:db8::1");
        assert!(reject("[fe80::1%25eth0]").contains("invalid character '%'"));
    }

    #[test]
    fn url_empty_query_or_fragment_rejected() {
        assert!(reject("nats://host?").contains("unexpected path"));
        assert!(reject("nats://host:1#").contains("unexpected path"));
        assert!(reject("host/./").contains("unexpected path"));
    }

    #[test]
    fn errors_never_echo_credentials() {
        for s in [
            "nats://alice:hunter2@host:abc",
            "nats://alice:hunter2@",
            "nats://hunter2@[x]",
        ] {
            let msg = reject(s);
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn display_and_debug_redact() {
        let a = addr("tls://alice:hunter2@host:1");
        assert_eq!(a.to_string(), "tls://host:1");
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("alice"));
        let a = addr("nats://t0k3n@host");
        assert_eq!(a.to_string(), "nats://host:4222");
        assert!(!format!("{a:?}").contains("t0k3n"));
    }

    #[test]
    fn from_str_and_accessors() {
        let a: ServerAddr = "nats://10.0.0.1:5".parse().expect("parses");
        assert!(a.is_ip());
        assert!(!a.has_credentials());
        assert_eq!(a.socket_addr_string(), "10.0.0.1:5");
        assert!(!addr("localhost").is_ip());
        assert!("ws://x".parse::<ServerAddr>().is_err());
    }

    #[test]
    fn parse_servers_lists() {
        let list = parse_servers("nats://a:1, tls://b:2 ,c,,").expect("parses");
        let got: Vec<_> = list.iter().map(hp).collect();
        assert_eq!(got, [("a", 1, false), ("b", 2, true), ("c", 4222, false)]);
        assert_eq!(
            parse_servers("").map_err(|e| e.kind()).err(),
            Some(ErrorKind::InvalidArgument)
        );
        assert!(parse_servers(",").is_err());
        assert!(parse_servers("a,ws://b").is_err());
    }

    #[test]
    fn defaults_match_the_table() {
        let o = ConnectOptions::new();
        assert!(o.servers.is_empty());
        assert!(o.server_error.is_none());
        assert_eq!(o.port, 4222);
        assert_eq!(o.name, None);
        assert!(!o.verbose);
        assert!(!o.pedantic);
        assert!(!o.no_echo);
        assert!(!o.no_randomize);
        assert!(!o.no_resolve);
        assert!(!o.debug);
        assert!(!o.ignore_cluster_updates);
        assert!(!o.ignore_auth_error_abort);
        assert_eq!(o.inbox_prefix, "_INBOX");
        assert_eq!(o.max_ping_out, 2);
        assert_eq!(o.ping_interval, Duration::from_millis(120_000));
        assert!(o.reconnect);
        assert_eq!(o.max_reconnect_attempts, Some(10));
        assert_eq!(o.reconnect_time_wait, Duration::from_millis(2000));
        assert_eq!(o.reconnect_jitter, Duration::from_millis(100));
        assert_eq!(o.reconnect_jitter_tls, Duration::from_millis(1000));
        assert!(o.reconnect_delay_handler.is_none());
        assert_eq!(o.connection_timeout, Duration::from_millis(20_000));
        assert!(!o.wait_on_first_connect);
        assert_eq!((o.user, o.pass, o.token), (None, None, None));
        assert!(o.auth.is_none());
        assert!(!o.tls_required && !o.tls.set);
        assert_eq!(o.tls.ca_file, None);
        assert_eq!((o.tls.cert_file, o.tls.key_file), (None, None));
        assert!(!o.tls.handshake_first);
        assert_eq!(o.reconnect_buffer_size, 8 * 1024 * 1024);
        assert_eq!(o.pending_msgs_limit, 524_288);
        assert_eq!(o.pending_bytes_limit, 64 * 1024 * 1024);
        assert_eq!(o.request_timeout, Duration::from_secs(1));
        assert_eq!(o.write_buffer_limit, 8 * 1024 * 1024);
        assert_eq!(o.max_control_line, 64 * 1024);
        assert_eq!(o.max_payload_ceiling, 64 * 1024 * 1024);
        assert_eq!(o.flush_watermark, 64 * 1024);
        assert!(ConnectOptions::default().validate().is_ok());
        let servers = ConnectOptions::default().servers_or_default();
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].to_string(), "nats://127.0.0.1:4222");
    }

    #[test]
    fn every_setter_changes_its_field() {
        let o = ConnectOptions::new()
            .servers(["nats://a:1"])
            .server("b:2")
            .port(5000)
            .name("n")
            .verbose(true)
            .pedantic(true)
            .no_echo(true)
            .no_randomize(true)
            .no_resolve(true)
            .debug(true)
            .ignore_cluster_updates(true)
            .ignore_auth_error_abort(true)
            .inbox_prefix("_MY.INBOX")
            .max_ping_out(5)
            .ping_interval(Duration::from_secs(7))
            .reconnect(false)
            .max_reconnect_attempts(3)
            .reconnect_time_wait(Duration::from_millis(11))
            .reconnect_jitter(Duration::from_millis(12))
            .reconnect_jitter_tls(Duration::from_millis(13))
            .reconnect_delay_handler(|n| Duration::from_millis(n as u64 * 10))
            .connection_timeout(Duration::from_secs(3))
            .wait_on_first_connect(true)
            .user("u")
            .pass("p")
            .token("t")
            .credentials_file("/x.creds")
            .tls_required(true)
            .tls_ca_file("/ca.pem")
            .tls_client_cert("/cert.pem", "/key.pem")
            .tls_handshake_first(true)
            .reconnect_buffer_size(0)
            .pending_msgs_limit(10)
            .pending_bytes_limit(20)
            .request_timeout(Duration::from_secs(9))
            .write_buffer_limit(30)
            .max_control_line(40)
            .max_payload_ceiling(50)
            .flush_watermark(60);
        let hosts: Vec<_> = o.server_addrs().iter().map(hp).collect();
        assert_eq!(hosts, [("a", 1, false), ("b", 2, false)]);
        assert_eq!(o.port, 5000);
        assert_eq!(o.name.as_deref(), Some("n"));
        assert!(o.verbose && o.pedantic && o.no_echo && o.no_randomize);
        assert!(o.no_resolve && o.debug);
        assert!(o.ignore_cluster_updates && o.ignore_auth_error_abort);
        assert_eq!(o.inbox_prefix, "_MY.INBOX");
        assert_eq!(o.max_ping_out, 5);
        assert_eq!(o.ping_interval, Duration::from_secs(7));
        assert!(!o.reconnect);
        assert_eq!(o.max_reconnect_attempts, Some(3));
        assert_eq!(o.reconnect_time_wait, Duration::from_millis(11));
        assert_eq!(o.reconnect_jitter, Duration::from_millis(12));
        assert_eq!(o.reconnect_jitter_tls, Duration::from_millis(13));
        let handler = o.reconnect_delay_handler.as_ref().expect("set");
        assert_eq!(handler(4), Duration::from_millis(40));
        assert_eq!(o.connection_timeout, Duration::from_secs(3));
        assert!(o.wait_on_first_connect);
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(o.pass.as_deref(), Some("p"));
        assert_eq!(o.token.as_deref(), Some("t"));
        assert!(format!("{:?}", o.auth).contains("CredsFile(/x.creds)"));
        assert!(o.tls_required && o.tls.handshake_first);
        assert_eq!(o.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(o.tls.cert_file, Some(PathBuf::from("/cert.pem")));
        assert_eq!(o.tls.key_file, Some(PathBuf::from("/key.pem")));
        assert_eq!(o.reconnect_buffer_size, 0);
        assert_eq!(o.pending_msgs_limit, 10);
        assert_eq!(o.pending_bytes_limit, 20);
        assert_eq!(o.request_timeout, Duration::from_secs(9));
        assert_eq!(o.write_buffer_limit, 30);
        assert_eq!(o.max_control_line, 40);
        assert_eq!(o.max_payload_ceiling, 50);
        assert_eq!(o.flush_watermark, 60);
        // Every auth setter at once is ambiguous.
        let err = o.validate().unwrap_err();
        assert!(err.to_string().contains("one authentication mode"), "{err}");

        // Clones share the handler.
        let c = o.clone();
        assert_eq!(c.servers, o.servers);
        assert!(c.reconnect_delay_handler.is_some());
    }

    #[test]
    fn max_reconnect_attempts_negative_is_unlimited() {
        let o = ConnectOptions::new().max_reconnect_attempts(-1);
        assert_eq!(o.max_reconnect_attempts, None);
        let o = ConnectOptions::new().max_reconnect_attempts(i64::MIN);
        assert_eq!(o.max_reconnect_attempts, None);
        let o = ConnectOptions::new().max_reconnect_attempts(0);
        assert_eq!(o.max_reconnect_attempts, Some(0));
    }

    #[test]
    fn servers_are_comma_separated_and_replace_or_append() {
        let o = ConnectOptions::new().servers(["a:1,b:2", "tls://c"]);
        let hosts: Vec<_> = o.server_addrs().iter().map(hp).collect();
        assert_eq!(hosts, [("a", 1, false), ("b", 2, false), ("c", 4222, true)]);
        let o = o.server("d, e:5");
        assert_eq!(o.server_addrs().len(), 5);
        let o = o.servers(["z"]);
        assert_eq!(o.server_addrs().len(), 1);
        assert_eq!(o.servers_or_default(), o.server_addrs());
        let o = ConnectOptions::new()
            .servers(Vec::<String>::new())
            .port(4333);
        assert!(o.server_addrs().is_empty());
        assert_eq!(o.servers_or_default()[0].port(), 4333);
    }

    fn validate_err(o: ConnectOptions) -> String {
        match o.validate() {
            Ok(()) => panic!("should fail: {o:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                e.to_string()
            }
        }
    }

    #[test]
    fn validate_reports_deferred_server_errors() {
        let msg = validate_err(ConnectOptions::new().server("host:0"));
        assert!(msg.contains("invalid server address"), "{msg}");
        assert!(msg.contains("1..=65535"), "{msg}");
        // The first error wins, good entries are still kept.
        let o = ConnectOptions::new()
            .server("ok:1")
            .server("ws://x")
            .server("http://y");
        assert_eq!(o.server_addrs().len(), 1);
        let msg = validate_err(o.clone());
        assert!(msg.contains("websocket"), "{msg}");
        // Replacing the list drops the error.
        assert!(o.servers(["fine"]).validate().is_ok());
        let msg = validate_err(ConnectOptions::new().server(""));
        assert!(msg.contains("empty server address"), "{msg}");
        let msg = validate_err(ConnectOptions::new().servers(["a", "b:x"]));
        assert!(msg.contains("not a number"), "{msg}");
        let msg = validate_err(ConnectOptions::new().server("nats://u:hunter2@h:x"));
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn validate_catches_each_bad_option() {
        let cases: Vec<(ConnectOptions, &str)> = vec![
            (ConnectOptions::new().port(0), "port must not be 0"),
            (
                ConnectOptions::new().inbox_prefix(""),
                "inbox_prefix must not be empty",
            ),
            (
                ConnectOptions::new().inbox_prefix("_INBOX.*"),
                "inbox_prefix '_INBOX.*'",
            ),
            (
                ConnectOptions::new().inbox_prefix("a.>"),
                "inbox_prefix 'a.>'",
            ),
            (
                ConnectOptions::new().inbox_prefix("a b"),
                "inbox_prefix 'a b'",
            ),
            (
                ConnectOptions::new().inbox_prefix("a..b"),
                "inbox_prefix 'a..b'",
            ),
            (
                ConnectOptions::new().inbox_prefix("a."),
                "inbox_prefix 'a.'",
            ),
            (
                ConnectOptions::new().ping_interval(Duration::ZERO),
                "ping_interval must be greater than zero",
            ),
            (
                ConnectOptions::new().max_ping_out(0),
                "max_ping_out must be at least 1",
            ),
            (
                ConnectOptions::new().connection_timeout(Duration::ZERO),
                "connection_timeout must be greater than zero",
            ),
            (
                ConnectOptions::new().request_timeout(Duration::ZERO),
                "request_timeout must be greater than zero",
            ),
            (
                ConnectOptions::new().pending_msgs_limit(0),
                "pending_msgs_limit must be greater than zero",
            ),
            (
                ConnectOptions::new().pending_bytes_limit(0),
                "pending_bytes_limit must be greater than zero",
            ),
            (
                ConnectOptions::new().write_buffer_limit(0),
                "write_buffer_limit must be greater than zero",
            ),
            (
                ConnectOptions::new().max_control_line(0),
                "max_control_line must be greater than zero",
            ),
            (
                ConnectOptions::new().max_payload_ceiling(0),
                "max_payload_ceiling must be greater than zero",
            ),
        ];
        for (o, want) in cases {
            let msg = validate_err(o);
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        }
        // Port 0 is fine when servers are given.
        assert!(ConnectOptions::new().port(0).server("h").validate().is_ok());
        assert!(
            ConnectOptions::new()
                .inbox_prefix("_X.y")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let o = ConnectOptions::new()
            .server("nats://alice:srvpass@h")
            .server("nats://srvtoken@h2")
            .user("bob")
            .pass("optpass")
            .token("opttoken")
            .nkey("SUAseed")
            .reconnect_delay_handler(|_| Duration::ZERO);
        let dbg = format!("{o:?}");
        for secret in ["srvpass", "srvtoken", "optpass", "opttoken", "SUAseed"] {
            assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
        }
        assert!(dbg.contains("bob") && dbg.contains("<redacted>"));
        assert!(dbg.contains("<fn>"));
    }

    #[test]
    fn connect_info_from_options() {
        let o = ConnectOptions::new()
            .name("svc")
            .verbose(true)
            .pedantic(true)
            .no_echo(true)
            .user("u")
            .pass("p");
        let info = o.connect_info(&addr("host"), None).unwrap();
        assert!(info.verbose && info.pedantic);
        assert!(!info.echo);
        assert!(info.headers && info.no_responders);
        assert!(!info.tls_required);
        assert_eq!(info.name.as_deref(), Some("svc"));
        assert_eq!(info.user.as_deref(), Some("u"));
        assert_eq!(info.pass.as_deref(), Some("p"));
        assert_eq!(info.auth_token, None);
        let token = ConnectOptions::new().token("t");
        let info = token.connect_info(&addr("host"), None).unwrap();
        assert_eq!(info.auth_token.as_deref(), Some("t"));
        assert_eq!((info.user, info.pass), (None, None));
        assert_eq!(info.lang, "rust");
        assert_eq!(info.protocol, 1);

        let info = ConnectOptions::new()
            .connect_info(&addr("tls://host"), None)
            .unwrap();
        assert!(info.echo && info.tls_required);
        assert_eq!((info.user, info.pass, info.auth_token), (None, None, None));
        let info = ConnectOptions::new()
            .tls_required(true)
            .connect_info(&addr("host"), None)
            .unwrap();
        assert!(info.tls_required);
    }

    #[test]
    fn connect_info_url_credentials_win() {
        let o = ConnectOptions::new().user("u").pass("p").token("t");
        let info = o
            .connect_info(&addr("nats://url-user:url-pass@host"), None)
            .unwrap();
        assert_eq!(info.user.as_deref(), Some("url-user"));
        assert_eq!(info.pass.as_deref(), Some("url-pass"));
        assert_eq!(info.auth_token, None);

        let info = o
            .connect_info(&addr("nats://url-token@host"), None)
            .unwrap();
        assert_eq!(info.user, None);
        assert_eq!(info.pass, None);
        assert_eq!(info.auth_token.as_deref(), Some("url-token"));
    }

    #[test]
    fn tls_options_imply_tls_and_validate() {
        assert!(ConnectOptions::new().tls(TlsOptions::new()).tls_wanted());
        assert!(ConnectOptions::new().tls_ca_file("/ca.pem").tls_wanted());
        assert!(ConnectOptions::new().tls_handshake_first(true).tls_wanted());
        assert!(
            !ConnectOptions::new()
                .tls_handshake_first(false)
                .tls_wanted()
        );
        let ok = ConnectOptions::new().tls(
            TlsOptions::new()
                .ca(b"pem".to_vec())
                .cert(b"pem".to_vec())
                .key_file("/k.pem"),
        );
        assert!(ok.validate().is_ok());
        let bad = [
            TlsOptions::new().cert_file("/c.pem"),
            TlsOptions::new().key(b"k".to_vec()),
            TlsOptions::new()
                .cert(b"c".to_vec())
                .cert_file("/c")
                .key_file("/k"),
            TlsOptions::new()
                .cert_file("/c")
                .key(b"k".to_vec())
                .key_file("/k"),
        ];
        for tls in bad {
            let err = ConnectOptions::new()
                .tls(tls.clone())
                .validate()
                .expect_err("rejected");
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{tls:?}");
        }
        let provider = Arc::new(crate::tls::rustls::crypto::ring::default_provider());
        let config = crate::tls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(crate::tls::rustls::RootCertStore::empty())
            .with_no_client_auth();
        let whole = ConnectOptions::new().tls_client_config(Arc::new(config));
        assert!(whole.tls_wanted() && whole.validate().is_ok());
        let both = whole.tls_ca_file("/ca.pem").validate().expect_err("both");
        assert!(
            both.to_string().contains("whole client configuration"),
            "{both}"
        );
        let key = TlsOptions::new()
            .cert(b"c".to_vec())
            .key(b"SECRET".to_vec());
        assert!(!format!("{key:?}").contains("SECRET"));
    }
}
