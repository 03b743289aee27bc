//! Self-tests of the real-server harness in `tests/support`.
//!
//! Run against a specific binary with `NATS_SERVER=/path/to/nats-server cargo test --test harness`.

mod support;

use std::io::{ErrorKind, Read as _, Write};

use bytes::{Bytes, BytesMut};
use nats_actix::proto::{ClientOp, Limits, Parser, ServerInfo, ServerOp};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{NatsCluster, NatsServer, require_server, server_version};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A blocking NATS connection over a std `TcpStream`, speaking through the
/// crate's sans-IO protocol core: [`ClientOp`] to encode, [`Parser`] to
/// decode.
struct RawConn {
    stream: TcpStream,
    buf: BytesMut,
    parser: Parser,
    info: ServerInfo,
}

enum Read {
    Op(ServerOp),
    Eof,
    TimedOut,
}

impl RawConn {
    /// Connects to `nats://127.0.0.1:PORT`, `127.0.0.1:PORT` or a bare
    /// port; reads INFO, sends CONNECT + PING and waits for PONG.
    fn connect(target: impl ToString) -> RawConn {
        let addr = Self::addr(&target.to_string());
        let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = RawConn {
            stream,
            buf: BytesMut::with_capacity(8192),
            parser: Parser::new(Limits::default()),
            info: ServerInfo::default(),
        };
        match c.read_op() {
            ServerOp::Info(info) => c.info = *info,
            other => panic!("expected INFO, got {other:?}"),
        }
        c.send_ops(&[ClientOp::Connect(Box::default()), ClientOp::Ping]);
        c.expect_pong();
        c
    }

    fn addr(target: &str) -> String {
        let t = target.trim_start_matches("nats://");
        if t.chars().all(|c| c.is_ascii_digit()) {
            format!("127.0.0.1:{t}")
        } else {
            t.to_string()
        }
    }

    fn send_ops(&mut self, ops: &[ClientOp]) {
        let mut out = BytesMut::new();
        for op in ops {
            op.encode(&mut out).expect("encode");
        }
        self.stream.write_all(&out).expect("write to server");
    }

    fn sub(&mut self, subject: &str, queue: Option<&str>, sid: u64) {
        self.send_ops(&[ClientOp::Subscribe {
            sid,
            subject: subject.into(),
            queue_group: queue.map(Into::into),
        }]);
    }

    fn publish(&mut self, subject: &str, payload: &'static [u8]) {
        self.send_ops(&[ClientOp::Publish {
            subject: subject.into(),
            reply: None,
            headers: None,
            payload: Bytes::from_static(payload),
        }]);
    }

    /// The next op, or EOF / timeout. The parser keeps partial ops across
    /// a timeout.
    fn try_read(&mut self, timeout: Duration) -> Read {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(op) = self.parser.parse(&mut self.buf).expect("valid protocol") {
                return Read::Op(op);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Read::TimedOut;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read::Eof,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Read::TimedOut;
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Read::Eof,
                Err(e) => panic!("reading from server: {e}"),
            }
        }
    }

    /// The next op that is not a server PING (answered with PONG).
    fn read_op(&mut self) -> ServerOp {
        loop {
            match self.try_read(IO_TIMEOUT) {
                Read::Op(ServerOp::Ping) => self.send_ops(&[ClientOp::Pong]),
                Read::Op(op) => return op,
                Read::Eof => panic!("server closed the connection"),
                Read::TimedOut => panic!("no op from the server within {IO_TIMEOUT:?}"),
            }
        }
    }

    fn expect_pong(&mut self) {
        loop {
            match self.read_op() {
                ServerOp::Pong => return,
                ServerOp::Info(_) => continue,
                op => panic!("expected PONG, got {op:?}"),
            }
        }
    }

    /// PING and wait for its PONG: the server has processed all before.
    fn flush(&mut self) {
        self.send_ops(&[ClientOp::Ping]);
        self.expect_pong();
    }

    /// Expects the server to close the connection. INFO (2.10+ sends one
    /// right after CONNECT), PING and -ERR are skipped.
    fn expect_closed(&mut self) {
        loop {
            match self.try_read(IO_TIMEOUT) {
                Read::Op(ServerOp::Ping | ServerOp::Info(_) | ServerOp::Err(_)) => {}
                Read::Eof => return,
                Read::Op(op) => panic!("expected the connection to close, got {op:?}"),
                Read::TimedOut => panic!("connection still open after {IO_TIMEOUT:?}"),
            }
        }
    }

    /// The next MSG, as (subject, payload).
    fn expect_msg(&mut self) -> (String, Vec<u8>) {
        self.poll_msg(IO_TIMEOUT)
            .unwrap_or_else(|| panic!("no MSG within {IO_TIMEOUT:?}"))
    }

    /// Waits up to `timeout` for a MSG; `None` if none arrived.
    fn poll_msg(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_read(left) {
                Read::Op(ServerOp::Msg {
                    subject, payload, ..
                }) => return Some((subject.to_string(), payload.to_vec())),
                Read::Op(ServerOp::Ping) => self.send_ops(&[ClientOp::Pong]),
                Read::Op(ServerOp::Info(_) | ServerOp::Pong) => {}
                Read::Op(op) => panic!("unexpected op while waiting for MSG: {op:?}"),
                Read::Eof => panic!("server closed the connection"),
                Read::TimedOut => return None,
            }
        }
    }
}

#[test]
fn raw_handshake_and_pubsub() {
    let server = NatsServer::start();
    let mut c = RawConn::connect(server.client_url());
    assert_eq!(c.info.port, server.client_port());
    assert!(c.info.headers);
    assert!(c.info.max_payload > 0);

    c.sub("foo", None, 1);
    c.publish("foo", b"hello");
    c.send_ops(&[ClientOp::Ping]);
    let (subject, payload) = c.expect_msg();
    assert_eq!(subject, "foo");
    assert_eq!(payload, b"hello");
    c.expect_pong();
}

#[test]
fn raw_cluster_crosses_nodes() {
    let cluster = NatsCluster::start(3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    let mut ports: Vec<u16> = cluster.nodes.iter().map(|n| n.client_port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "nodes must have distinct client ports");

    let mut sub = RawConn::connect(&urls[2]);
    sub.sub("cross.nodes", None, 1);
    sub.flush();

    let mut publ = RawConn::connect(&urls[0]);
    // Route interest propagates asynchronously: publish until node C delivers.
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        publ.publish("cross.nodes", b"hi!");
        publ.flush();
        if let Some(m) = sub.poll_msg(Duration::from_millis(50)) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "message published on node A never reached node C"
        );
    };
    assert_eq!(got.0, "cross.nodes");
    assert_eq!(got.1, b"hi!");
}

#[test]
fn restart_same_port() {
    let mut server = NatsServer::start();
    let port = server.client_port();
    let first_pid = server.pid();
    RawConn::connect(port);

    server.stop();
    assert!(!server.is_running());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections after stop()"
    );

    server.restart();
    assert!(server.is_running());
    assert_eq!(server.client_port(), port);
    assert_ne!(server.pid(), first_pid);
    let mut c = RawConn::connect(server.client_url());
    assert_eq!(c.info.port, port);
    c.flush();
    // The monitoring endpoint of the new process answers too.
    assert_eq!(server.varz()["port"].as_u64(), Some(u64::from(port)));

    // Crash, then come back on the same port again.
    server.kill();
    server.restart();
    assert_eq!(server.client_port(), port);
    RawConn::connect(port).flush();
}

#[test]
fn cluster_node_restart_rejoins() {
    let mut cluster = NatsCluster::start(3);
    let port = cluster.nodes[1].client_port();
    cluster.nodes[1].stop();
    cluster.nodes[1].restart();
    assert_eq!(cluster.nodes[1].client_port(), port);
    cluster.wait_for_routes();
    let routez = cluster.nodes[1].routez();
    assert!(
        routez["num_routes"].as_u64().unwrap_or(0) >= 2,
        "{routez:#}"
    );
}

#[test]
fn kill_and_stop() {
    let mut server = NatsServer::start();
    let mut c = RawConn::connect(server.client_port());
    assert!(server.is_running());
    server.kill();
    assert!(!server.is_running());
    c.expect_closed();

    let mut other = NatsServer::start();
    let mut c2 = RawConn::connect(other.client_port());
    other.stop();
    assert!(!other.is_running());
    // A graceful shutdown closes the client connection as well.
    c2.expect_closed();
    // stop()/kill() on a stopped server are no-ops.
    other.stop();
    other.kill();
}

#[test]
fn lame_duck_sends_ldm_info() {
    let mut server = NatsServer::start();
    let mut c = RawConn::connect(server.client_url());
    server.lame_duck();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "no INFO with ldm:true within 10 s"
        );
        if let ServerOp::Info(info) = c.read_op()
            && info.lame_duck_mode
        {
            break;
        }
    }
    assert!(
        server.is_running(),
        "lame duck must not stop the server at once"
    );
}

#[test]
fn connz_oracle_lists_subscriptions() {
    let server = NatsServer::start();
    let mut c = RawConn::connect(server.client_url());
    c.sub("foo.>", Some("q"), 7);
    c.flush();

    let connz = server.connz();
    let conns = connz["connections"].as_array().expect("connections array");
    let found = conns.iter().any(|conn| {
        conn["subscriptions_list_detail"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["subject"] == "foo.>" && s["qgroup"] == "q" && s["sid"] == "7")
    });
    assert!(found, "connz lacks subscription foo.> q 7: {connz:#}");
}

#[test]
fn server_version_is_known() {
    let (major, minor, _) = server_version();
    assert_eq!(major, 2);
    assert!(
        minor >= 9,
        "oldest supported server is 2.9, found 2.{minor}"
    );
}

#[test]
fn version_gate_reports_skip() {
    assert!(!require_server(
        (99, 0, 0),
        "version_gate_reports_skip",
        "the future"
    ));
    assert!(require_server(
        (2, 0, 0),
        "version_gate_reports_skip",
        "anything"
    ));
}

#[test]
fn jetstream_server_starts() {
    let server = NatsServer::with_jetstream();
    let varz = server.varz();
    let store = varz["jetstream"]["config"]["store_dir"]
        .as_str()
        .expect("varz.jetstream.config.store_dir");
    assert!(
        store.starts_with(&*server.dir().to_string_lossy()),
        "store_dir {store} outside the temp dir"
    );
}

#[test]
fn bad_config_is_reported() {
    let err = match NatsServer::try_with_config("bogus_field_for_test: 1") {
        Ok(_) => panic!("a bogus config field was accepted"),
        Err(e) => e,
    };
    assert!(
        err.contains("bogus_field_for_test"),
        "error lacks the log: {err}"
    );
}

#[test]
fn temp_dir_removed_on_drop() {
    let dir = {
        let server = NatsServer::start();
        let dir = server.dir().to_path_buf();
        assert!(dir.join("server.conf").is_file());
        dir
    };
    assert!(!dir.exists(), "{} survived drop", dir.display());
}
