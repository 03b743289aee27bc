//! Self-tests of the real-server harness in `tests/support`.
//!
//! Run against a specific binary with `NATS_SERVER=/path/to/nats-server cargo test --test harness`.

mod support;

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{NatsCluster, NatsServer, require_server, server_version};

// TODO(proto): switch to nats_actix::proto (ClientOp, ServerOp, ConnectInfo, Limits, Parser)
// once the protocol core exists; this raw helper only stands in for it.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Minimal blocking NATS protocol connection over a std `TcpStream`.
struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    info: String,
}

impl RawConn {
    /// Connect to `nats://127.0.0.1:PORT`, `127.0.0.1:PORT` or a bare port; reads INFO,
    /// sends CONNECT + PING and waits for PONG.
    fn connect(target: impl ToString) -> RawConn {
        let addr = Self::addr(&target.to_string());
        let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = RawConn {
            stream,
            buf: Vec::new(),
            info: String::new(),
        };
        let info = c.read_line();
        assert!(info.starts_with("INFO {"), "expected INFO, got {info:?}");
        c.info = info;
        c.send(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\nPING\r\n",
        );
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

    /// The INFO JSON the server greeted us with.
    fn info_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.info["INFO ".len()..]).expect("INFO json")
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// One line without `\r\n`; `Ok(None)` on EOF; `Err` on timeout or I/O error.
    /// A partial line stays buffered across a timeout.
    fn try_read_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(Some(line));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn read_line(&mut self) -> String {
        match self.try_read_line() {
            Ok(Some(l)) => l,
            Ok(None) => panic!("server closed the connection"),
            Err(e) => panic!("reading from server: {e}"),
        }
    }

    /// Next line that is not a server PING (PINGs are answered with PONG).
    fn read_op(&mut self) -> String {
        loop {
            let line = self.read_line();
            if line == "PING" {
                self.send(b"PONG\r\n");
                continue;
            }
            return line;
        }
    }

    fn expect_pong(&mut self) {
        loop {
            let line = self.read_op();
            match line.as_str() {
                "PONG" => return,
                l if l.starts_with("INFO ") => continue,
                l => panic!("expected PONG, got {l:?}"),
            }
        }
    }

    /// Send PING and wait for its PONG: everything sent before is processed by the server.
    fn flush(&mut self) {
        self.send(b"PING\r\n");
        self.expect_pong();
    }

    /// Expect the server to close the connection (EOF or reset within the I/O timeout).
    /// Already-buffered INFO (2.10+ sends one right after CONNECT), PING and -ERR lines
    /// are skipped.
    fn expect_closed(&mut self) {
        loop {
            match self.try_read_line() {
                Ok(Some(l)) if l == "PING" || l.starts_with("INFO ") || l.starts_with("-ERR") => {}
                Ok(None) => return,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                other => panic!("expected the server to close the connection, got {other:?}"),
            }
        }
    }

    /// Read `MSG <subject> <sid> [reply] <len>\r\n<payload>\r\n`.
    fn expect_msg(&mut self) -> (String, Vec<u8>) {
        let line = loop {
            let l = self.read_op();
            if !l.starts_with("INFO ") {
                break l;
            }
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert!(
            parts.first() == Some(&"MSG") && (parts.len() == 4 || parts.len() == 5),
            "expected MSG, got {line:?}"
        );
        let len: usize = parts.last().unwrap().parse().expect("MSG length");
        while self.buf.len() < len + 2 {
            assert!(self.fill().expect("read payload") > 0, "EOF inside payload");
        }
        assert_eq!(
            &self.buf[len..len + 2],
            b"\r\n",
            "payload not followed by CRLF"
        );
        let payload = self.buf[..len].to_vec();
        self.buf.drain(..len + 2);
        (parts[1].to_string(), payload)
    }

    /// Wait up to `timeout` for a MSG; `None` if nothing (but PINGs/INFOs) arrived.
    fn poll_msg(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !self.buf.windows(2).any(|w| w == b"\r\n") {
                return None;
            }
            if !self.buf.windows(2).any(|w| w == b"\r\n") {
                self.stream.set_read_timeout(Some(left)).unwrap();
                let r = self.fill();
                self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                match r {
                    Ok(0) => panic!("server closed the connection"),
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        return None;
                    }
                    Err(e) => panic!("reading from server: {e}"),
                }
                continue;
            }
            if self.buf.starts_with(b"MSG ") {
                return Some(self.expect_msg());
            }
            let line = self.read_line();
            match line.as_str() {
                "PING" => self.send(b"PONG\r\n"),
                l if l.starts_with("INFO ") || l == "PONG" => {}
                l => panic!("unexpected line while waiting for MSG: {l:?}"),
            }
        }
    }
}

#[test]
fn raw_handshake_and_pubsub() {
    let server = NatsServer::start();
    let mut c = RawConn::connect(server.client_url());
    let info = c.info_json();
    assert_eq!(info["port"].as_u64(), Some(u64::from(server.client_port())));
    assert_eq!(info["headers"].as_bool(), Some(true));

    c.send(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n");
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
    sub.send(b"SUB cross.nodes 1\r\n");
    sub.flush();

    let mut publ = RawConn::connect(&urls[0]);
    // Route interest propagates asynchronously: publish until node C delivers.
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        publ.send(b"PUB cross.nodes 3\r\nhi!\r\n");
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
    assert_eq!(c.info_json()["port"].as_u64(), Some(u64::from(port)));
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
        let line = c.read_op();
        if let Some(json) = line.strip_prefix("INFO ") {
            let v: serde_json::Value = serde_json::from_str(json).expect("INFO json");
            if v["ldm"].as_bool() == Some(true) {
                break;
            }
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
    c.send(b"SUB foo.> q 7\r\n");
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
