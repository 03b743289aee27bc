//! The transport (TCP; TLS arrives with the security issue) and the
//! handshake, as a plain async function: read `INFO`, send `CONNECT` and
//! `PING`, wait for `PONG`.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::options::{ConnectOptions, ServerAddr};
use crate::proto::{ClientOp, Limits, Parser, ServerInfo, ServerOp};
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
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("server", &self.server.to_string())
            .field("info", &self.info)
            .finish()
    }
}

pub(crate) fn limits(opts: &ConnectOptions) -> Limits {
    Limits::default()
        .max_control_line(opts.max_control_line)
        .max_payload(opts.max_payload_ceiling)
}

/// Connects and handshakes with one server, within the connection timeout.
pub(crate) async fn connect(
    server: &ServerAddr,
    opts: &ConnectOptions,
) -> Result<Transport, Error> {
    match tokio::time::timeout(opts.connection_timeout, handshake(server, opts)).await {
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

async fn handshake(server: &ServerAddr, opts: &ConnectOptions) -> Result<Transport, Error> {
    let stream = TcpStream::connect(server.socket_addr_string()).await?;
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let mut parser = Parser::new(limits(opts));
    let mut buf = BytesMut::with_capacity(4096);

    let mut info = match read_op(&mut read, &mut parser, &mut buf).await? {
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
    if info.tls_required || server.tls_required() || opts.tls_required {
        return Err(Error::with_source(
            ErrorKind::Tls,
            "TLS is not supported yet by nats-actix",
        ));
    }
    let connect = opts.connect_info(server, info.nonce.as_deref())?;
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
    let written = write.write_all(&out).await;
    zeroize::Zeroize::zeroize(&mut out[..]);
    written?;
    loop {
        match read_op(&mut read, &mut parser, &mut buf).await? {
            ServerOp::Pong => break,
            ServerOp::Err(e) => return Err(e.into()),
            ServerOp::Ping => {
                write.write_all(b"PONG\r\n").await?;
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
    Ok(Transport {
        read: Box::new(read),
        write: Box::new(write),
        info,
        leftover: buf,
        server: server.clone(),
    })
}

async fn read_op<R: AsyncRead + Unpin>(
    read: &mut R,
    parser: &mut Parser,
    buf: &mut BytesMut,
) -> Result<ServerOp, Error> {
    loop {
        if let Some(op) = parser.parse(buf)? {
            return Ok(op);
        }
        buf.reserve(4096);
        if read.read_buf(buf).await? == 0 {
            return Err(Error::with_source(
                ErrorKind::Disconnected,
                "the server closed the connection during the handshake",
            ));
        }
    }
}
