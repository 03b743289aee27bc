//! The transport (TCP or TLS, behind the same boxed read and write
//! halves) and the handshake, as a plain async function: read `INFO`,
//! upgrade to TLS when either side requires it, send `CONNECT` and `PING`,
//! wait for `PONG`.
//!
//! TLS is required by the client when any TLS option is set or the URL is
//! `tls://`; it is then never given up: a server whose `INFO` offers no TLS
//! is refused before a byte of `CONNECT` (so no credential) is sent. With
//! `handshake_first` the TLS handshake comes before the `INFO`.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::options::{ConnectOptions, ServerAddr};
use crate::proto::{ClientOp, Limits, Parser, ServerInfo, ServerOp};
use crate::tls;
use crate::{Error, ErrorKind};

pub(crate) type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// An established, handshaken connection to one server.
pub(crate) struct Transport {
    pub(crate) read: BoxRead,
    pub(crate) write: BoxWrite,
    pub(crate) info: ServerInfo,
    /// Bytes read after the handshake's PONG.
    pub(crate) leftover: BytesMut,
    pub(crate) server: ServerAddr,
    /// The connection is TLS: writes are coalesced into larger records.
    pub(crate) tls: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("server", &self.server.to_string())
            .field("info", &self.info)
            .field("tls", &self.tls)
            .finish()
    }
}

pub(crate) fn limits(opts: &ConnectOptions) -> Limits {
    Limits::default()
        .max_control_line(opts.max_control_line)
        .max_payload(opts.max_payload_ceiling)
}

/// Connects and handshakes with one server, within the connection timeout.
/// `tls_name` is the name its certificate is verified against (the pool's:
/// the user's host name, also for IPs learned from the cluster).
pub(crate) async fn connect(
    server: &ServerAddr,
    tls_name: &str,
    opts: &ConnectOptions,
) -> Result<Transport, Error> {
    let fut = handshake(server, tls_name, opts);
    match tokio::time::timeout(opts.connection_timeout, fut).await {
        Ok(res) => res,
        Err(_) => Err(Error::with_source(
            ErrorKind::TimedOut,
            format!(
                "no handshake with {server} within {:?}",
                opts.connection_timeout
            ),
        )),
    }
}

/// The stream of one connection: TCP, then maybe TLS over it.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<tls::TlsStream<TcpStream>>),
    /// From [`ConnectOptions::connector`].
    Custom(Box<dyn crate::options::Io>),
}

impl Stream {
    fn split(self) -> (BoxRead, BoxWrite) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(s);
                (Box::new(r), Box::new(w))
            }
            Stream::Custom(s) => {
                let (r, w) = tokio::io::split(s);
                (Box::new(r), Box::new(w))
            }
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await.map_err(Error::from),
            Stream::Tls(s) => s.read_buf(buf).await.map_err(tls::io_error),
            Stream::Custom(s) => s.read_buf(buf).await.map_err(Error::from),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes).await.map_err(Error::from),
            Stream::Tls(s) => {
                s.write_all(bytes).await.map_err(tls::io_error)?;
                s.flush().await.map_err(tls::io_error)
            }
            Stream::Custom(s) => {
                s.write_all(bytes).await?;
                s.flush().await.map_err(Error::from)
            }
        }
    }

    /// Runs the TLS handshake over the TCP stream (once).
    async fn upgrade(self, opts: &ConnectOptions, tls_name: &str) -> Result<Stream, Error> {
        match self {
            Stream::Tcp(tcp) => {
                // Built now, at every attempt: certificate files rotated on
                // disk are read again.
                let config = tls::client_config(&opts.tls)?;
                let stream = tls::upgrade(tcp, config, tls_name).await?;
                if opts.debug {
                    tracing::debug!(target: "nats_actix::trace", name = tls_name, "TLS handshake done");
                }
                Ok(Stream::Tls(Box::new(stream)))
            }
            tls @ Stream::Tls(_) => Ok(tls),
            Stream::Custom(_) => Err(Error::with_source(
                ErrorKind::Tls,
                "TLS is not available over a custom connector",
            )),
        }
    }
}

async fn handshake(
    server: &ServerAddr,
    tls_name: &str,
    opts: &ConnectOptions,
) -> Result<Transport, Error> {
    let mut stream = match &opts.connector {
        Some(connector) => Stream::Custom(connector(&server.socket_addr_string()).await?),
        None => {
            let tcp = TcpStream::connect(server.socket_addr_string()).await?;
            tcp.set_nodelay(true)?;
            Stream::Tcp(tcp)
        }
    };
    let mut parser = Parser::new(limits(opts));
    let mut buf = BytesMut::with_capacity(4096);
    let wanted = opts.tls_wanted() || server.tls_required();
    if opts.tls.handshake_first {
        stream = stream.upgrade(opts, tls_name).await?;
    }

    let mut info = match read_op(&mut stream, &mut parser, &mut buf).await? {
        ServerOp::Info(info) => *info,
        other => {
            return Err(Error::with_source(
                ErrorKind::Protocol,
                format!("expected INFO, got {other:?}"),
            ));
        }
    };
    if opts.debug {
        tracing::debug!(target: "nats_actix::trace", server = %server, "<<- INFO {:?}", info);
    }
    if !matches!(stream, Stream::Tls(_)) {
        if wanted && !info.tls_required && !info.tls_available {
            // Downgrade refused: nothing (no credential) is sent in
            // plaintext.
            return Err(Error::with_source(
                ErrorKind::Tls,
                format!("TLS is required but the server {server} does not offer it"),
            ));
        }
        if wanted || info.tls_required {
            if !buf.is_empty() {
                return Err(Error::with_source(
                    ErrorKind::Protocol,
                    "plaintext data after INFO before the TLS handshake",
                ));
            }
            stream = stream.upgrade(opts, tls_name).await?;
        }
    }
    let is_tls = matches!(stream, Stream::Tls(_));
    let mut connect = opts.connect_info(server, info.nonce.as_deref())?;
    connect.tls_required = is_tls;
    if opts.debug {
        // ConnectInfo's Debug redacts every secret.
        tracing::debug!(target: "nats_actix::trace", server = %server, "->> CONNECT {:?}", connect);
        tracing::debug!(target: "nats_actix::trace", server = %server, "->> PING");
    }
    let mut out = BytesMut::new();
    let op = ClientOp::Connect(Box::new(connect));
    let encoded = op.encode(&mut out);
    // The secrets are in `out` now: zero the copies in the CONNECT.
    if let ClientOp::Connect(mut c) = op {
        use zeroize::Zeroize;
        for secret in [&mut c.pass, &mut c.auth_token, &mut c.jwt, &mut c.sig]
            .into_iter()
            .flatten()
        {
            secret.zeroize();
        }
    }
    encoded?;
    ClientOp::Ping.encode(&mut out)?;
    let written = stream.write_all(&out).await;
    zeroize::Zeroize::zeroize(&mut out[..]);
    written?;
    loop {
        match read_op(&mut stream, &mut parser, &mut buf).await? {
            ServerOp::Pong => break,
            ServerOp::Err(e) => return Err(e.into()),
            ServerOp::Ping => {
                stream.write_all(b"PONG\r\n").await?;
            }
            // An INFO during the handshake (a cluster update) replaces
            // the first: its connect_urls are the freshest.
            ServerOp::Info(newer) => info = *newer,
            ServerOp::Ok => {}
            ServerOp::Msg { .. } | ServerOp::Malformed { .. } => {
                return Err(Error::with_source(
                    ErrorKind::Protocol,
                    "MSG before the handshake completed",
                ));
            }
        }
    }
    if opts.debug {
        tracing::debug!(target: "nats_actix::trace", server = %server, "<<- PONG");
    }
    let (read, write) = stream.split();
    Ok(Transport {
        read,
        write,
        info,
        leftover: buf,
        server: server.clone(),
        tls: is_tls,
    })
}

async fn read_op(
    stream: &mut Stream,
    parser: &mut Parser,
    buf: &mut BytesMut,
) -> Result<ServerOp, Error> {
    loop {
        if let Some(op) = parser.parse(buf)? {
            return Ok(op);
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(Error::with_source(
                ErrorKind::Disconnected,
                "the server closed the connection during the handshake",
            ));
        }
    }
}
