//! Server addresses: [`ServerAddr`] and its parsing (the `url` crate).

use super::*;

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
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls_required: bool,
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
    pub(super) token: Option<String>,
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

pub(super) fn redact(v: &Option<String>) -> Option<&'static str> {
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
pub(super) fn parse_addr(s: &str) -> Result<ServerAddr, String> {
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
pub(super) fn describe_url_error(e: url::ParseError, hostport: &str, bare_ipv6: bool) -> String {
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

pub(super) fn percent_decode(s: &str, what: &str) -> Result<String, String> {
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

pub(super) fn parse_port(port: &str) -> Result<u16, String> {
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

pub(super) fn parse_list(list: &str) -> Result<Vec<ServerAddr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(parse_addr)
        .collect()
}
