//! The server's `INFO`.

use serde::Deserialize;

/// What the server says about itself in `INFO`, at connect time and
/// whenever something changes (cluster membership, lame duck mode).
///
/// Unknown fields are ignored and missing ones take their defaults, so
/// every server version parses.
///
/// # Examples
///
/// ```
/// use nats_actix::proto::ServerInfo;
/// let info = ServerInfo::from_json(br#"{"server_id":"S1","max_payload":1048576,"headers":true}"#).unwrap();
/// assert_eq!(info.server_id, "S1");
/// assert_eq!(info.max_payload, 1_048_576);
/// assert!(!info.lame_duck_mode);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's unique id.
    pub server_id: String,
    /// The server's configured name.
    pub server_name: String,
    /// The server's version, such as `2.10.4`.
    pub version: String,
    /// The Go version the server was built with.
    pub go: String,
    /// The host the server listens on.
    pub host: String,
    /// The port the server listens on.
    pub port: u16,
    /// Whether the server supports headers.
    pub headers: bool,
    /// Whether the server requires authentication.
    pub auth_required: bool,
    /// Whether the server requires TLS.
    pub tls_required: bool,
    /// Whether the server verifies client certificates.
    pub tls_verify: bool,
    /// Whether the server offers TLS.
    pub tls_available: bool,
    /// The largest payload (headers included) the server accepts.
    pub max_payload: usize,
    /// The protocol version.
    pub proto: i8,
    /// The id the server gave this client.
    pub client_id: u64,
    /// This client's IP as the server sees it.
    pub client_ip: String,
    /// A nonce to sign for nkey or JWT authentication.
    pub nonce: Option<String>,
    /// The cluster name.
    pub cluster: Option<String>,
    /// Other servers in the cluster that clients may connect to.
    pub connect_urls: Vec<String>,
    /// Websocket URLs of servers in the cluster.
    pub ws_connect_urls: Vec<String>,
    /// Set when the server entered lame duck mode.
    #[serde(rename = "ldm")]
    pub lame_duck_mode: bool,
    /// Whether JetStream is enabled.
    pub jetstream: bool,
    /// The JetStream domain.
    pub domain: Option<String>,
    /// The server's public curve key, when it offers one.
    pub xkey: Option<String>,
}

impl ServerInfo {
    /// Parses the JSON that follows `INFO `.
    ///
    /// # Errors
    ///
    /// A [`serde_json::Error`] when the JSON is malformed.
    pub fn from_json(json: &[u8]) -> Result<ServerInfo, serde_json::Error> {
        serde_json::from_slice(json)
    }
}
