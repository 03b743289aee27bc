//! A scripted fake NATS server for faults a real server will not produce.
//!
//! Accepts any number of connections on 127.0.0.1; connection `i` runs a
//! [`Script`] chosen by its index. A script normally starts with the handshake
//! (send `INFO`, wait for the client's `CONNECT` and `PING`, answer `PONG`), then
//! runs its [`Step`]s in order. Every control line the client sends is recorded
//! per connection (payloads of `PUB`/`HPUB` are read by size and kept apart), so
//! a test can assert on what was sent after a reconnect.
//!
//! PING answering: off until the handshake's `PONG` has been sent, then on (every
//! client `PING` gets a `PONG`); [`Step::Silence`] turns it off and
//! [`Step::AnswerPings`] back on. When the steps run out the connection stays open
//! in the current mode until the client closes it or the fake is dropped.
//!
//! ```ignore
//! let fake = FakeServer::start(vec![
//!     Script::new(vec![Step::Send(b"MSG garbage\r\n".to_vec())]), // connection 0
//!     Script::new(vec![]).info("ldm", false),                     // connection 1 and later
//! ]);
//! // connect a client to fake.url() ...
//! assert!(fake.wait_for_line(1, LIMIT, |l| l.starts_with("SUB ")).is_some());
//! ```
//!
//! Std only (plus `serde_json`); dropping the fake closes every socket and joins
//! its threads.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long an [`Step::Expect`] (and the handshake) waits for the client.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Larger announced `PUB` sizes are not read as payload (the line is recorded only).
const MAX_RECORDED_PAYLOAD: usize = 64 << 20;

/// One step of a connection's script.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes as they are.
    Send(Vec<u8>),
    /// Write `INFO <json>\r\n` (an async INFO, e.g. `{"ldm": true}` or new
    /// `connect_urls`). Not merged with the greeting INFO.
    Info(Value),
    /// Write `-ERR 'text'\r\n`.
    Err(String),
    /// Wait until the client sends a line starting with this prefix (after the
    /// lines earlier expects consumed). On timeout ([`EXPECT_TIMEOUT`]) the script
    /// stops and the connection is closed; see [`FakeServer::script_error`].
    Expect(String),
    /// Pause the script (PINGs are still answered if the mode says so).
    Sleep(Duration),
    /// Stop answering PINGs; the socket stays open.
    Silence,
    /// Answer every PING with PONG (other ops are only recorded).
    AnswerPings,
    /// Close the connection (FIN).
    Close,
    /// Abort the connection (RST: `SO_LINGER` 0, then close).
    Reset,
}

impl Step {
    /// `Step::Send` from anything byte-like.
    pub fn send(bytes: impl AsRef<[u8]>) -> Step {
        Step::Send(bytes.as_ref().to_vec())
    }

    /// `Step::Expect` from a `&str`.
    pub fn expect(prefix: &str) -> Step {
        Step::Expect(prefix.to_string())
    }

    /// `Step::Err` from a `&str`.
    pub fn err(text: &str) -> Step {
        Step::Err(text.to_string())
    }
}

/// The script of one connection.
#[derive(Clone, Debug)]
pub struct Script {
    /// Greeting INFO (`None`: send none).
    pub info: Option<Value>,
    /// Wait for `CONNECT` and `PING` and answer `PONG` before the steps.
    pub handshake: bool,
    pub steps: Vec<Step>,
}

/// The greeting INFO used unless a script changes it. `port` is filled in with
/// the fake's port when sent.
pub fn default_info() -> Value {
    json!({
        "server_id": "FAKE",
        "server_name": "fake",
        "version": "2.10.0",
        "go": "go1.0",
        "host": "127.0.0.1",
        "port": 0,
        "proto": 1,
        "headers": true,
        "max_payload": 1048576,
    })
}

impl Script {
    /// Default INFO, handshake, then `steps`.
    pub fn new(steps: Vec<Step>) -> Script {
        Script {
            info: Some(default_info()),
            handshake: true,
            steps,
        }
    }

    /// No INFO, no handshake: only `steps` (PINGs unanswered until `AnswerPings`).
    pub fn raw(steps: Vec<Step>) -> Script {
        Script {
            info: None,
            handshake: false,
            steps,
        }
    }

    /// Set one field of the greeting INFO (`connect_urls`, `ldm`, `headers`,
    /// `max_payload`, `nonce`, ...). Creates the default INFO if there was none.
    pub fn info(mut self, key: &str, value: impl Into<Value>) -> Script {
        let info = self.info.get_or_insert_with(default_info);
        info[key] = value.into();
        self
    }

    /// Replace the greeting INFO (`None`: send none).
    pub fn with_info(mut self, info: Option<Value>) -> Script {
        self.info = info;
        self
    }

    /// Send the INFO but skip waiting for CONNECT/PING and the PONG.
    pub fn without_handshake(mut self) -> Script {
        self.handshake = false;
        self
    }
}

/// One op received from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOp {
    /// The control line without its CRLF (`CONNECT {...}`, `SUB foo 1`, `PUB foo 5`).
    pub line: String,
    /// The payload of `PUB`/`HPUB` (headers included for `HPUB`), without its CRLF.
    pub payload: Option<Vec<u8>>,
}

#[derive(Default)]
struct ConnRecord {
    ops: Vec<ClientOp>,
    /// The client closed (or the socket failed / was closed by the script).
    closed: bool,
    script_done: bool,
    script_error: Option<String>,
}

struct FakeConn {
    index: usize,
    /// `None` once the script dropped it (`Step::Reset`).
    stream: Mutex<Option<TcpStream>>,
    writer: Mutex<Option<TcpStream>>,
    answer_pings: AtomicBool,
    record: Mutex<ConnRecord>,
    changed: Condvar,
}

impl FakeConn {
    fn write(&self, bytes: &[u8]) -> bool {
        match self.writer.lock().unwrap().as_mut() {
            Some(w) => w.write_all(bytes).and_then(|_| w.flush()).is_ok(),
            None => false,
        }
    }

    fn shutdown(&self, how: Shutdown) {
        if let Some(s) = self.stream.lock().unwrap().as_ref() {
            let _ = s.shutdown(how);
        }
    }

    /// RST: linger 0, drop our handles; the reader's handle, the last one, goes
    /// when SHUT_RD wakes it (SHUT_RD sends nothing to the peer).
    fn reset(&self) {
        self.writer.lock().unwrap().take();
        if let Some(s) = self.stream.lock().unwrap().take() {
            super::proxy::set_linger_zero(&s);
            let _ = s.shutdown(Shutdown::Read);
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnRecord> {
        self.record.lock().unwrap()
    }
}

type ScriptFn = dyn Fn(usize) -> Script + Send + Sync;

struct Shared {
    port: u16,
    stop: AtomicBool,
    script: Box<ScriptFn>,
    conns: Mutex<Vec<Arc<FakeConn>>>,
    accepted: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A scripted fake NATS server (see the module docs).
pub struct FakeServer {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Connection `i` runs `scripts[i]`; connections past the end run the last one.
    /// An empty list means `Script::new(vec![])` for everyone.
    pub fn start(scripts: Vec<Script>) -> FakeServer {
        FakeServer::start_with(move |i| {
            scripts
                .get(i)
                .or(scripts.last())
                .cloned()
                .unwrap_or_else(|| Script::new(vec![]))
        })
    }

    /// Connection `i` runs `script(i)`.
    pub fn start_with(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("fake: local_addr").port();
        let shared = Arc::new(Shared {
            port,
            stop: AtomicBool::new(false),
            script: Box::new(script),
            conns: Mutex::new(Vec::new()),
            accepted: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name(format!("fake-accept-{port}"))
            .spawn(move || accept_loop(listener, s))
            .expect("fake: spawn accept thread");
        FakeServer {
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.shared.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    fn conn(&self, index: usize) -> Option<Arc<FakeConn>> {
        self.shared.conns.lock().unwrap().get(index).cloned()
    }

    fn conn_or_panic(&self, index: usize) -> Arc<FakeConn> {
        self.conn(index).unwrap_or_else(|| {
            panic!(
                "fake: no connection {index} (only {} accepted)",
                self.connections()
            )
        })
    }

    /// Control lines connection `index` received, in order (empty if no such
    /// connection yet).
    pub fn received(&self, index: usize) -> Vec<String> {
        self.received_ops(index)
            .into_iter()
            .map(|o| o.line)
            .collect()
    }

    /// Ops (line plus payload) connection `index` received, in order.
    pub fn received_ops(&self, index: usize) -> Vec<ClientOp> {
        self.conn(index)
            .map(|c| c.lock().ops.clone())
            .unwrap_or_default()
    }

    /// Wait until connection `index` has been accepted. `false` on timeout.
    pub fn wait_for_connection(&self, index: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut conns = self.shared.conns.lock().unwrap();
        while conns.len() <= index {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            conns = self
                .shared
                .accepted
                .wait_timeout(conns, deadline - now)
                .unwrap()
                .0;
        }
        true
    }

    /// Wait until connection `index` exists and has received a line matching
    /// `pred`; returns the first such line. `None` on timeout.
    pub fn wait_for_line(
        &self,
        index: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        if !self.wait_for_connection(index, timeout) {
            return None;
        }
        let conn = self.conn_or_panic(index);
        wait_record(&conn, deadline, |r| {
            r.ops.iter().find(|o| pred(&o.line)).map(|o| o.line.clone())
        })
    }

    /// Wait until connection `index` has been closed (by the client, the script or
    /// a socket error). `false` on timeout.
    pub fn wait_for_close(&self, index: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.wait_for_connection(index, timeout) {
            return false;
        }
        let conn = self.conn_or_panic(index);
        wait_record(&conn, deadline, |r| r.closed.then_some(())).is_some()
    }

    /// Wait until connection `index` has run all its steps. `false` on timeout.
    pub fn wait_for_script(&self, index: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.wait_for_connection(index, timeout) {
            return false;
        }
        let conn = self.conn_or_panic(index);
        wait_record(&conn, deadline, |r| r.script_done.then_some(())).is_some()
    }

    /// Why connection `index`'s script stopped early (an `Expect` timed out, the
    /// client went away), if it did.
    pub fn script_error(&self, index: usize) -> Option<String> {
        self.conn(index).and_then(|c| c.lock().script_error.clone())
    }

    /// Whether connection `index` is closed.
    pub fn is_closed(&self, index: usize) -> bool {
        self.conn(index).is_some_and(|c| c.lock().closed)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.shared.port)),
            Duration::from_secs(1),
        );
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for c in self.shared.conns.lock().unwrap().iter() {
            c.shutdown(Shutdown::Both);
            // Take the lock so a script between its check and its wait cannot miss this.
            drop(c.lock());
            c.changed.notify_all();
        }
        let threads: Vec<JoinHandle<()>> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn wait_record<T>(
    conn: &FakeConn,
    deadline: Instant,
    mut f: impl FnMut(&ConnRecord) -> Option<T>,
) -> Option<T> {
    let mut rec = conn.lock();
    loop {
        if let Some(v) = f(&rec) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        rec = conn.changed.wait_timeout(rec, deadline - now).unwrap().0;
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let (Ok(writer), Ok(reader)) = (stream.try_clone(), stream.try_clone()) else {
            continue;
        };
        let mut conns = shared.conns.lock().unwrap();
        let index = conns.len();
        let conn = Arc::new(FakeConn {
            index,
            stream: Mutex::new(Some(stream)),
            writer: Mutex::new(Some(writer)),
            answer_pings: AtomicBool::new(false),
            record: Mutex::new(ConnRecord::default()),
            changed: Condvar::new(),
        });
        conns.push(conn.clone());
        drop(conns);
        shared.accepted.notify_all();

        let script = (shared.script)(index);
        let c = conn.clone();
        let reader_thread = thread::Builder::new()
            .name(format!("fake-read-{index}"))
            .spawn(move || read_loop(reader, &c))
            .expect("fake: spawn reader");
        let s = shared.clone();
        let script_thread = thread::Builder::new()
            .name(format!("fake-script-{index}"))
            .spawn(move || run_script(script, &conn, &s))
            .expect("fake: spawn script");
        let mut threads = shared.threads.lock().unwrap();
        threads.push(reader_thread);
        threads.push(script_thread);
    }
}

/// Reads and records client ops; answers PINGs when the mode says so.
fn read_loop(stream: TcpStream, conn: &FakeConn) {
    let mut r = BufReader::new(stream);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match r.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let mut fields = line.split_ascii_whitespace();
        let op = fields.next().unwrap_or("").to_ascii_uppercase();
        let mut payload = None;
        if (op == "PUB" || op == "HPUB")
            && let Some(size) = fields.last().and_then(|s| s.parse::<usize>().ok())
            && size <= MAX_RECORDED_PAYLOAD
        {
            let mut p = vec![0u8; size + 2];
            if r.read_exact(&mut p).is_err() {
                break;
            }
            p.truncate(size);
            payload = Some(p);
        }
        // Record and read the mode under one lock, so the handshake's switch to
        // answering (also made under it) splits the PINGs cleanly.
        let answer = {
            let mut rec = conn.lock();
            rec.ops.push(ClientOp {
                line: line.clone(),
                payload,
            });
            conn.answer_pings.load(Ordering::SeqCst)
        };
        conn.changed.notify_all();
        if op == "PING" && answer {
            conn.write(b"PONG\r\n");
        }
    }
    conn.lock().closed = true;
    conn.changed.notify_all();
}

fn run_script(script: Script, conn: &FakeConn, shared: &Shared) {
    let result = run_steps(script, conn, shared);
    let mut rec = conn.lock();
    rec.script_done = true;
    if let Err(e) = result {
        rec.script_error = Some(e);
        drop(rec);
        conn.shutdown(Shutdown::Both);
    } else {
        drop(rec);
    }
    conn.changed.notify_all();
}

fn info_line(info: &Value) -> Vec<u8> {
    format!("INFO {info}\r\n").into_bytes()
}

fn run_steps(script: Script, conn: &FakeConn, shared: &Shared) -> Result<(), String> {
    let stopped = || shared.stop.load(Ordering::SeqCst);
    // Index of the first op not yet consumed by an Expect.
    let mut cursor = 0usize;
    let mut expect = |prefix: &str| -> Result<(), String> {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        let found = wait_record(conn, deadline, |r| {
            if let Some(pos) = r.ops[cursor.min(r.ops.len())..]
                .iter()
                .position(|o| o.line.starts_with(prefix))
            {
                return Some(Ok(cursor + pos + 1));
            }
            if r.closed || stopped() {
                return Some(Err(()));
            }
            None
        });
        match found {
            Some(Ok(next)) => {
                cursor = next;
                Ok(())
            }
            Some(Err(())) => Err(format!(
                "connection {} closed while expecting {prefix:?}",
                conn.index
            )),
            None => Err(format!(
                "connection {}: no line starting with {prefix:?} within {EXPECT_TIMEOUT:?}",
                conn.index
            )),
        }
    };
    let send = |bytes: &[u8]| -> Result<(), String> {
        if conn.write(bytes) {
            Ok(())
        } else {
            Err(format!("connection {}: write failed", conn.index))
        }
    };

    if let Some(mut info) = script.info {
        if info.get("port").and_then(Value::as_u64) == Some(0) {
            info["port"] = json!(shared.port);
        }
        send(&info_line(&info))?;
    }
    if script.handshake {
        expect("CONNECT")?;
        expect("PING")?;
        // Under the record lock: every PING recorded after this is the reader's.
        let rec = conn.lock();
        conn.answer_pings.store(true, Ordering::SeqCst);
        let ok = conn.write(b"PONG\r\n");
        drop(rec);
        if !ok {
            return Err(format!("connection {}: write failed", conn.index));
        }
    }
    for step in script.steps {
        if stopped() {
            break;
        }
        match step {
            Step::Send(bytes) => send(&bytes)?,
            Step::Info(info) => send(&info_line(&info))?,
            Step::Err(text) => send(format!("-ERR '{text}'\r\n").as_bytes())?,
            Step::Expect(prefix) => expect(&prefix)?,
            Step::Sleep(d) => {
                let deadline = Instant::now() + d;
                while Instant::now() < deadline && !stopped() {
                    thread::sleep((deadline - Instant::now()).min(Duration::from_millis(10)));
                }
            }
            Step::Silence => conn.answer_pings.store(false, Ordering::SeqCst),
            Step::AnswerPings => conn.answer_pings.store(true, Ordering::SeqCst),
            Step::Close => {
                conn.shutdown(Shutdown::Both);
                break;
            }
            Step::Reset => {
                conn.reset();
                break;
            }
        }
    }
    Ok(())
}
