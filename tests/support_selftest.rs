//! Self-tests of the fault-test support code: `support::proxy::Proxy` in front of a
//! real nats-server and `support::fake::FakeServer`, both driven by raw
//! `std::net::TcpStream` clients (no nats-actix client API).
//!
//! Every read has a socket timeout, so a hang is a failure.

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use support::NatsServer;
use support::fake::{FakeServer, Script, Step};
use support::proxy::{Direction, Proxy};

const LIMIT: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n";

/// A raw client: the stream for writing and a buffered reader on a clone of it.
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        w.set_read_timeout(Some(LIMIT)).unwrap();
        w.set_write_timeout(Some(LIMIT)).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Raw { w, r }
    }

    /// Connect, read INFO, send CONNECT + PING, read PONG. Returns the INFO JSON.
    fn handshake(port: u16) -> (Raw, Value) {
        let mut c = Raw::connect(port);
        let info = c.line();
        let json = info.strip_prefix("INFO ").expect("INFO first");
        let info: Value = serde_json::from_str(json).expect("INFO JSON");
        c.send(CONNECT);
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "PONG");
        (c, info)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    /// The next line without CRLF; panics on EOF, error or timeout.
    fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.r.read_line(&mut s).expect("read line");
        assert!(n > 0, "unexpected EOF");
        s.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Everything until EOF (panics on timeout or error).
    fn read_until_eof(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.r.read_to_end(&mut out).expect("read to EOF");
        out
    }

    /// Asserts that nothing arrives within [`QUIET`].
    fn assert_quiet(&mut self) {
        self.r.get_ref().set_read_timeout(Some(QUIET)).unwrap();
        let mut s = String::new();
        match self.r.read_line(&mut s) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?} {s:?}"),
        }
        self.r.get_ref().set_read_timeout(Some(LIMIT)).unwrap();
    }
}

// ---------------------------------------------------------------- proxy

#[test]
fn proxy_forwards_pub_sub_round_trip() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut sub, info) = Raw::handshake(proxy.port());
    assert_eq!(info["port"], server.client_port());
    sub.send(b"SUB foo 1\r\nPING\r\n");
    assert_eq!(sub.line(), "PONG");

    let (mut publ, _) = Raw::handshake(proxy.port());
    publ.send(b"PUB foo 5\r\nhello\r\nPING\r\n");
    assert_eq!(publ.line(), "PONG");

    assert_eq!(sub.line(), "MSG foo 1 5");
    assert_eq!(sub.line(), "hello");
    assert_eq!(proxy.connections_accepted(), 2);
    assert_eq!(proxy.live_connections(), 2);
    assert_eq!(proxy.cuts(), 0);
    // INFO + PONG + PONG (sub), INFO + PONG + PONG (pub), MSG: at least 7.
    assert!(proxy.frames_forwarded(Direction::ServerToClient) >= 7);
    // CONNECT, PING, SUB, PING, CONNECT, PING, PUB (one frame with payload), PING.
    assert_eq!(proxy.frames_forwarded(Direction::ClientToServer), 8);
}

#[test]
fn proxy_cut_all_gives_eof() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut c, _) = Raw::handshake(proxy.port());
    assert_eq!(proxy.cut_all(), 1);
    assert!(c.read_until_eof().is_empty());
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(proxy.live_connections(), 0);
    // The proxy still accepts new connections.
    let (_c2, _) = Raw::handshake(proxy.port());
    assert_eq!(proxy.connections_accepted(), 2);
}

#[test]
fn proxy_reset_all_gives_connection_reset() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut c, _) = Raw::handshake(proxy.port());
    assert_eq!(proxy.reset_all(), 1);
    let mut buf = [0u8; 16];
    match c.r.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected ECONNRESET, got {other:?}"),
    }
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn proxy_pause_holds_ping_until_resume() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut c, _) = Raw::handshake(proxy.port());
    proxy.pause();
    c.send(b"PING\r\n");
    c.assert_quiet();
    assert_eq!(proxy.live_connections(), 1);
    proxy.resume();
    assert_eq!(c.line(), "PONG");
}

#[test]
fn proxy_delay_and_refuse() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    proxy.refuse(true);
    let mut c = Raw::connect(proxy.port());
    assert!(c.read_until_eof().is_empty());
    assert_eq!(proxy.connections_refused(), 1);
    proxy.refuse(false);

    let (mut c, _) = Raw::handshake(proxy.port());
    proxy.set_delay(Duration::from_millis(100));
    let start = std::time::Instant::now();
    c.send(b"PING\r\n");
    assert_eq!(c.line(), "PONG");
    // One chunk each way.
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn proxy_cut_after_bytes_server_to_client_mid_info() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    // Armed for the next connection: cut inside the INFO control line.
    proxy.cut_after_bytes(Direction::ServerToClient, 10);
    let mut c = Raw::connect(proxy.port());
    let got = c.read_until_eof();
    assert_eq!(got, b"INFO {\"ser");
    assert_eq!(proxy.cuts(), 1);
    assert!(!proxy.cut_pending());
    // Disarmed: the next connection is fine.
    let _ = Raw::handshake(proxy.port());
}

#[test]
fn proxy_cut_any_after_bytes_mid_control_line_of_live_connection() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut c, _) = Raw::handshake(proxy.port());
    c.send(b"SUB foo 1\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
    proxy.cut_any_after_bytes(Direction::ServerToClient, 6);
    let (mut p, _) = Raw::handshake(server.client_port());
    p.send(b"PUB foo 5\r\nhello\r\n");
    assert_eq!(c.read_until_eof(), b"MSG fo");
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn proxy_cut_after_bytes_client_to_server_mid_payload() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    // Observer connected directly to the server.
    let (mut obs, _) = Raw::handshake(server.client_port());
    obs.send(b"SUB * 1\r\nPING\r\n");
    assert_eq!(obs.line(), "PONG");

    let mut head = CONNECT.to_vec();
    head.extend_from_slice(b"PUB a 2\r\nhi\r\n");
    let second = b"PUB b 5\r\nhello\r\n";
    let n = head.len() + b"PUB b 5\r\nhel".len();
    proxy.cut_after_bytes(Direction::ClientToServer, n as u64);

    let mut c = Raw::connect(proxy.port());
    assert!(c.line().starts_with("INFO "));
    c.send(&head);
    c.send(second);
    c.read_until_eof();
    assert_eq!(proxy.bytes_forwarded(Direction::ClientToServer), n as u64);
    assert_eq!(proxy.cuts(), 1);
    // CONNECT and the first PUB are complete frames, the second is not.
    assert_eq!(proxy.frames_forwarded(Direction::ClientToServer), 2);

    assert_eq!(obs.line(), "MSG a 1 2");
    assert_eq!(obs.line(), "hi");
    obs.send(b"PING\r\n");
    assert_eq!(obs.line(), "PONG", "the cut PUB must not be delivered");
}

/// One chaos run: `conns` connections, each pipelining `ROUNDS` PUBs (payload with
/// CRLFs inside) to its own subscription. Returns, per connection, the number of complete
/// frames received and whether it was cut.
fn chaos_run(server: &NatsServer, one_in: u64, seed: u64, conns: usize) -> Vec<(u64, bool)> {
    const ROUNDS: usize = 100;
    let proxy = Proxy::start(server.client_port());
    proxy.chaos_cut_one_in(one_in, seed);
    let msg: &[u8] = b"MSG x 1 10\r\nab\r\ncd\r\nef\r\n";
    let mut out = Vec::new();
    let mut total_frames = 0;
    for _ in 0..conns {
        let mut c = Raw::connect(proxy.port());
        let mut req = CONNECT.to_vec();
        req.extend_from_slice(b"SUB x 1\r\n");
        for _ in 0..ROUNDS {
            req.extend_from_slice(b"PUB x 10\r\nab\r\ncd\r\nef\r\n");
        }
        c.send(&req);
        // Expected server->client stream after INFO: MSG x ROUNDS. (No PINGs: a
        // 2.9.10 server may send a PONG ahead of earlier echoed MSGs.)
        let mut expected_tail = Vec::new();
        let mut bounds = Vec::new(); // frame ends, relative to the tail
        for _ in 0..ROUNDS {
            expected_tail.extend_from_slice(msg);
            bounds.push(expected_tail.len());
        }
        // Read until EOF (cut) or everything arrived.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let cut = loop {
            let info_end = got.iter().position(|&b| b == b'\n').map(|p| p + 1);
            if let Some(e) = info_end
                && got.len() - e == expected_tail.len()
            {
                break false;
            }
            match c.r.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read: {e}"),
            }
        };
        let frames = match got.iter().position(|&b| b == b'\n') {
            None => {
                // Cut inside INFO (strictly: at least one byte arrived).
                let info_prefix = b"INFO ".starts_with(&got) || got.starts_with(b"INFO ");
                assert!(cut && !got.is_empty() && info_prefix, "{got:?}");
                0
            }
            Some(p) => {
                let tail = &got[p + 1..];
                assert!(
                    expected_tail.starts_with(tail),
                    "received bytes are not a prefix of the expected stream: {:?}",
                    String::from_utf8_lossy(
                        &tail[tail
                            .iter()
                            .zip(&expected_tail)
                            .position(|(a, b)| a != b)
                            .unwrap_or(0)
                            .saturating_sub(40)..]
                    )
                );
                let complete = bounds.iter().filter(|&&b| b <= tail.len()).count() as u64;
                if cut {
                    // Cut strictly inside a frame: never on a boundary.
                    assert!(
                        !tail.is_empty() && !bounds.contains(&tail.len()),
                        "cut on a frame boundary at {}",
                        tail.len()
                    );
                }
                1 + complete
            }
        };
        total_frames += frames;
        out.push((frames, cut));
    }
    assert_eq!(
        proxy.frames_forwarded(Direction::ServerToClient),
        total_frames
    );
    let cuts = out.iter().filter(|(_, c)| *c).count() as u64;
    assert!(proxy.wait_for_cuts(cuts, LIMIT));
    assert_eq!(proxy.cuts(), cuts);
    out
}

#[test]
fn proxy_chaos_cuts_inside_frames_at_roughly_the_rate() {
    let server = NatsServer::start();
    let one_in = 10;
    let runs = chaos_run(&server, one_in, 0xC0FFEE, 100);
    let cuts = runs.iter().filter(|(_, c)| *c).count() as u64;
    let frames: u64 = runs.iter().map(|(f, _)| f).sum();
    // Every frame the chaos rolled for: the complete ones plus the cut ones.
    let rolled = frames + cuts;
    let expected = rolled / one_in;
    assert!(
        rolled >= 700 && cuts * 2 >= expected && cuts <= expected * 2,
        "{cuts} cuts over {rolled} frames, expected about {expected}"
    );
    // Same seed, same frame sequence: the same cuts.
    let again = chaos_run(&server, one_in, 0xC0FFEE, 100);
    assert_eq!(runs, again);
}

#[test]
fn proxy_drop_closes_connections() {
    let server = NatsServer::start();
    let proxy = Proxy::start(server.client_port());
    let (mut c, _) = Raw::handshake(proxy.port());
    let port = proxy.port();
    drop(proxy);
    assert!(c.read_until_eof().is_empty());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

// ---------------------------------------------------------------- fake server

#[test]
fn fake_runs_scripts_per_connection_and_records_lines() {
    let fake = FakeServer::start(vec![
        // 0: custom INFO, garbage after the handshake, then close.
        Script::new(vec![Step::send("garbage\r\n"), Step::Close])
            .info("ldm", true)
            .info("connect_urls", vec!["127.0.0.1:1", "127.0.0.1:2"]),
        // 1: behaves: one MSG once subscribed, then goes silent.
        Script::new(vec![
            Step::expect("SUB "),
            Step::send("MSG foo 1 2\r\nhi\r\n"),
            Step::Sleep(Duration::from_millis(10)),
            Step::Info(serde_json::json!({"ldm": true})),
            Step::Silence,
        ]),
        // 2 and later: no INFO, an error, then a reset once the client pings.
        Script::raw(vec![
            Step::err("Authorization Violation"),
            Step::expect("PING"),
            Step::Reset,
        ]),
    ]);

    let (mut c0, info) = Raw::handshake(fake.port());
    assert_eq!(info["ldm"], true);
    assert_eq!(info["connect_urls"][1], "127.0.0.1:2");
    assert_eq!(info["port"], fake.port());
    assert_eq!(info["headers"], true);
    assert_eq!(c0.line(), "garbage");
    assert!(c0.read_until_eof().is_empty());
    assert!(fake.wait_for_close(0, LIMIT));

    let (mut c1, info) = Raw::handshake(fake.port());
    assert_eq!(info.get("ldm"), None);
    assert!(fake.wait_for_connection(1, LIMIT));
    assert_eq!(fake.connections(), 2);
    c1.send(b"SUB foo 1\r\n");
    assert_eq!(c1.line(), "MSG foo 1 2");
    assert_eq!(c1.line(), "hi");
    assert_eq!(c1.line(), "INFO {\"ldm\":true}");
    assert!(fake.wait_for_script(1, LIMIT));
    assert_eq!(fake.script_error(1), None);
    c1.send(b"PUB bar 3\r\nabc\r\nPING\r\n");
    c1.assert_quiet(); // silenced: no PONG
    let ping = fake.wait_for_line(1, LIMIT, |l| l == "PING");
    assert_eq!(ping.as_deref(), Some("PING"));
    let lines = fake.received(1);
    assert!(lines[0].starts_with("CONNECT {"), "{lines:?}");
    assert_eq!(&lines[1..], ["PING", "SUB foo 1", "PUB bar 3", "PING"]);
    let ops = fake.received_ops(1);
    assert_eq!(ops[3].payload.as_deref(), Some(&b"abc"[..]));
    assert!(!fake.is_closed(1));

    let mut c2 = Raw::connect(fake.port());
    assert_eq!(c2.line(), "-ERR 'Authorization Violation'");
    c2.send(b"PING\r\n");
    let mut buf = [0u8; 16];
    match c2.r.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected ECONNRESET, got {other:?}"),
    }
    assert_eq!(fake.received(2), ["PING"]);
    assert_eq!(fake.connections(), 3);
    assert_eq!(fake.received(0)[1..], ["PING"]);
}

#[test]
fn fake_expect_timeout_and_answer_pings() {
    // Handshake only, then answers PINGs (the default after the handshake).
    let fake = FakeServer::start(vec![Script::new(vec![Step::AnswerPings])]);
    let (mut c, _) = Raw::handshake(fake.port());
    for _ in 0..3 {
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "PONG");
    }
    // The client that never sends CONNECT: the wait helper times out.
    let _quiet = Raw::connect(fake.port());
    assert!(fake.wait_for_connection(1, LIMIT));
    assert_eq!(
        fake.wait_for_line(1, Duration::from_millis(100), |l| l.starts_with("CONNECT")),
        None
    );
    assert!(!fake.wait_for_connection(2, Duration::from_millis(50)));
}

#[test]
fn frame_counter_handles_hmsg_msg_and_split_input() {
    use support::proxy::FrameCounter;
    let stream: &[u8] = b"INFO {}\r\nHMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
        MSG b 2 4\r\n\r\n\r\n\r\nPING\r\n-ERR 'x'\r\n";
    let want = [9, 43, 60, 66, 76];
    // Whole, and split at every byte.
    assert_eq!(
        FrameCounter::new(Direction::ServerToClient).feed(stream),
        want
    );
    let mut c = FrameCounter::new(Direction::ServerToClient);
    let mut ends = Vec::new();
    for (i, b) in stream.iter().enumerate() {
        ends.extend(c.feed(std::slice::from_ref(b)).into_iter().map(|e| e + i));
    }
    assert_eq!(ends, want);
    // Client side: PUB/HPUB carry payloads, MSG does not.
    let c2s: &[u8] = b"PUB a 3\r\nx\ny\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n";
    assert_eq!(
        FrameCounter::new(Direction::ClientToServer).feed(c2s),
        [14, 42, 48]
    );
}
