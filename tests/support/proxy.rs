//! A loopback TCP fault proxy for putting in front of a real `nats-server`.
//!
//! Plain std: an accept thread plus two pump threads per connection, so it works
//! under any async runtime a test runs on its own thread. Every proxied connection
//! is a client socket (the side the test's client connected to) and an upstream
//! socket (to the server).
//!
//! ```ignore
//! let server = NatsServer::start();
//! let proxy = Proxy::start(server.client_port());
//! // connect the client to proxy.url() ...
//! proxy.cut_all();                                       // FIN both sides now
//! proxy.pause();                                         // a silent server
//! proxy.cut_after_bytes(Direction::ServerToClient, 10);  // next connection, mid INFO
//! proxy.chaos_cut_one_in(20, 42);                        // random cuts inside frames
//! ```
//!
//! Faults:
//! - [`Proxy::cut_all`] closes every live connection with FIN, [`Proxy::reset_all`]
//!   with RST (`SO_LINGER` 0) on the client side. Both count in [`Proxy::cuts`].
//! - [`Proxy::pause`]/[`Proxy::resume`]: nothing is forwarded in either direction
//!   while paused (bytes wait in the proxy / the kernel); sockets stay open.
//! - [`Proxy::set_delay`]: sleep before forwarding each chunk read.
//! - [`Proxy::refuse`]: new connections are accepted and closed at once.
//! - [`Proxy::cut_after_bytes`]: one-shot; the first connection accepted after the
//!   call is cut (FIN both sides) after exactly `n` more bytes in that direction.
//!   [`Proxy::cut_any_after_bytes`] does the same on whichever connection (live or
//!   new) forwards bytes in that direction first.
//! - [`Proxy::chaos_cut_one_in`]: server→client frames are forwarded whole; each
//!   frame is, with probability 1/n, cut at a random byte offset strictly inside it
//!   (at least one byte sent, at least one missing). Deterministic per connection
//!   from the seed and the connection index. Frames: `MSG`/`HMSG` with their
//!   payload, any other op as one CRLF line.
//!
//! Dropping the proxy closes the listener and every connection and joins all threads.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long pumps block in one read before re-checking their flags.
const TICK: Duration = Duration::from_millis(20);
/// Connect timeout to the upstream server.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(2);

/// A direction of flow through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the test's client to the server (`CONNECT`, `PUB`, `PING`, ...).
    ClientToServer,
    /// From the server to the client (`INFO`, `MSG`, `PONG`, ...).
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

/// Anything the proxy can be pointed at: a port on 127.0.0.1 or a full address.
pub trait Upstream {
    fn upstream_addr(self) -> SocketAddr;
}

impl Upstream for u16 {
    fn upstream_addr(self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self))
    }
}

impl Upstream for SocketAddr {
    fn upstream_addr(self) -> SocketAddr {
        self
    }
}

/// One-shot "cut after n bytes" request.
#[derive(Clone, Copy, Debug)]
struct CutPlan {
    dir: Direction,
    remaining: u64,
    /// Only connections with an id >= this one may claim the plan.
    min_conn: u64,
    /// The connection that claimed the plan (first to forward bytes in `dir`).
    claimed_by: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Chaos {
    one_in: u64,
    seed: u64,
}

/// One proxied connection.
struct Conn {
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
    dead: AtomicBool,
}

impl Conn {
    /// FIN both sides; the pumps notice and exit.
    fn cut(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    /// RST towards the client (linger 0, closed when the last handle drops), FIN upstream.
    fn reset(&self) {
        self.dead.store(true, Ordering::SeqCst);
        set_linger_zero(&self.client);
        // SHUT_RD sends nothing to the peer but wakes the pump blocked on it.
        let _ = self.client.shutdown(Shutdown::Read);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}

struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    paused: AtomicBool,
    refuse: AtomicBool,
    delay: Mutex<Duration>,
    cut_plan: Mutex<Option<CutPlan>>,
    chaos: Mutex<Option<Chaos>>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    upstream_failures: AtomicU64,
    cuts: AtomicU64,
    frames: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
}

/// A fault-injecting TCP proxy on 127.0.0.1 (see the module docs).
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free loopback port and forward every connection to `upstream`
    /// (a port on 127.0.0.1 or a `SocketAddr`).
    pub fn start(upstream: impl Upstream) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("proxy: local_addr").port();
        let shared = Arc::new(Shared {
            upstream: upstream.upstream_addr(),
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
            cut_plan: Mutex::new(None),
            chaos: Mutex::new(None),
            conns: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            upstream_failures: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            frames: [AtomicU64::new(0), AtomicU64::new(0)],
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name(format!("proxy-accept-{port}"))
            .spawn(move || accept_loop(listener, s))
            .expect("proxy: spawn accept thread");
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The proxy's listening port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The address connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Close every live connection now with FIN on both sides. Returns how many.
    pub fn cut_all(&self) -> usize {
        let conns = self.take_live();
        self.shared
            .cuts
            .fetch_add(conns.len() as u64, Ordering::SeqCst);
        for c in &conns {
            c.cut();
        }
        conns.len()
    }

    /// Reset every live connection now: RST to the client (`SO_LINGER` 0), FIN
    /// upstream. Returns how many.
    pub fn reset_all(&self) -> usize {
        let conns = self.take_live();
        self.shared
            .cuts
            .fetch_add(conns.len() as u64, Ordering::SeqCst);
        for c in &conns {
            c.reset();
        }
        conns.len()
    }

    fn take_live(&self) -> Vec<Arc<Conn>> {
        let mut map = self.shared.conns.lock().unwrap();
        map.drain().map(|(_, c)| c).collect()
    }

    /// Stop forwarding in both directions (connections stay open).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    /// Forward again, including whatever was held back while paused.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    /// Sleep `delay` before forwarding each chunk (both directions). Zero disables.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// While `true`, new connections are accepted and closed at once (counted in
    /// [`connections_refused`](Self::connections_refused)). Live ones are untouched.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// One-shot: the first connection accepted after this call is cut (FIN both
    /// sides) once exactly `n` bytes have been forwarded in `dir` on it (`n == 0`:
    /// before its first byte in `dir`). Replaces any pending plan.
    pub fn cut_after_bytes(&self, dir: Direction, n: u64) {
        let min_conn = self.shared.accepted.load(Ordering::SeqCst);
        *self.shared.cut_plan.lock().unwrap() = Some(CutPlan {
            dir,
            remaining: n,
            min_conn,
            claimed_by: None,
        });
    }

    /// Like [`cut_after_bytes`](Self::cut_after_bytes), but the plan is taken by
    /// whichever connection, live or new, next forwards bytes in `dir`.
    pub fn cut_any_after_bytes(&self, dir: Direction, n: u64) {
        *self.shared.cut_plan.lock().unwrap() = Some(CutPlan {
            dir,
            remaining: n,
            min_conn: 0,
            claimed_by: None,
        });
    }

    /// Whether a `cut_after_bytes` plan is still waiting to fire.
    pub fn cut_pending(&self) -> bool {
        self.shared.cut_plan.lock().unwrap().is_some()
    }

    /// Cut server→client frames at random: each frame with probability `1/one_in`,
    /// at a random offset strictly inside the frame. Deterministic for a given
    /// `seed`, connection index and frame sequence. Applies to connections accepted
    /// afterwards. `one_in == 0` turns chaos off.
    pub fn chaos_cut_one_in(&self, one_in: u64, seed: u64) {
        *self.shared.chaos.lock().unwrap() = (one_in > 0).then_some(Chaos { one_in, seed });
    }

    /// Every connection accepted so far (including refused ones).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed at once because of [`refuse`](Self::refuse).
    pub fn connections_refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections closed because the upstream could not be reached.
    pub fn upstream_failures(&self) -> u64 {
        self.shared.upstream_failures.load(Ordering::SeqCst)
    }

    /// Connections currently being forwarded.
    pub fn live_connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    /// Connections the proxy cut (cut_all, reset_all, cut_after_bytes, chaos).
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// Complete NATS frames forwarded in `dir` over all connections (`MSG`/`HMSG`/
    /// `PUB`/`HPUB` with payload count as one; any other op is one CRLF line).
    pub fn frames_forwarded(&self, dir: Direction) -> u64 {
        self.shared.frames[dir.index()].load(Ordering::SeqCst)
    }

    /// Bytes forwarded in `dir` over all connections.
    pub fn bytes_forwarded(&self, dir: Direction) -> u64 {
        self.shared.bytes[dir.index()].load(Ordering::SeqCst)
    }

    /// Wait until at least `n` connections have been accepted. `false` on timeout.
    pub fn wait_for_connections(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.connections_accepted() >= n)
    }

    /// Wait until exactly `n` connections are live. `false` on timeout.
    pub fn wait_for_live(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.live_connections() == n)
    }

    /// Wait until at least `n` cuts happened. `false` on timeout.
    pub fn wait_for_cuts(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.cuts() >= n)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for c in self.take_live() {
            c.cut();
        }
        // Connection threads may still register pump threads: drain until empty.
        loop {
            let threads: Vec<JoinHandle<()>> =
                self.shared.threads.lock().unwrap().drain(..).collect();
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

fn spawn(shared: &Shared, name: String, f: impl FnOnce() + Send + 'static) {
    let h = thread::Builder::new()
        .name(name)
        .spawn(f)
        .expect("proxy: spawn thread");
    shared.threads.lock().unwrap().push(h);
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = stream else { continue };
        let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refuse.load(Ordering::SeqCst) {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let s = shared.clone();
        spawn(&shared, format!("proxy-conn-{id}"), move || {
            start_conn(id, client, s)
        });
    }
}

fn start_conn(id: u64, client: TcpStream, shared: Arc<Shared>) {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, UPSTREAM_CONNECT_TIMEOUT) {
        Ok(u) => u,
        Err(_) => {
            shared.upstream_failures.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    for s in [&client, &upstream] {
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(TICK));
        let _ = s.set_write_timeout(Some(TICK));
    }
    let conn = Arc::new(Conn {
        id,
        client,
        upstream,
        dead: AtomicBool::new(false),
    });
    {
        let mut map = shared.conns.lock().unwrap();
        if shared.stop.load(Ordering::SeqCst) {
            conn.cut();
            return;
        }
        map.insert(id, conn.clone());
    }
    let chaos = *shared.chaos.lock().unwrap();
    let (c2, s2) = (conn.clone(), shared.clone());
    spawn(&shared, format!("proxy-s2c-{id}"), move || {
        pump(&c2, Direction::ServerToClient, chaos, &s2)
    });
    pump(&conn, Direction::ClientToServer, None, &shared);
}

/// What to do with the bytes of one forwarding step.
enum Verdict {
    /// Forward all.
    All,
    /// Forward this many, then cut.
    CutAfter(usize),
}

fn pump(conn: &Arc<Conn>, dir: Direction, chaos: Option<Chaos>, shared: &Shared) {
    let (mut src, dst) = match dir {
        Direction::ClientToServer => (&conn.client, &conn.upstream),
        Direction::ServerToClient => (&conn.upstream, &conn.client),
    };
    let mut counter = FrameCounter::new(dir);
    let mut rng =
        chaos.map(|c| XorShift::new(c.seed ^ (conn.id.wrapping_mul(0x9E37_79B9_7F4A_7C15))));
    // Chaos mode only forwards complete frames; `pending` holds the incomplete tail.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let running = || !conn.is_dead() && !shared.stop.load(Ordering::SeqCst);
    'outer: while running() {
        if shared.paused.load(Ordering::SeqCst) {
            thread::sleep(POLL);
            continue;
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // Paused after the read started: hold the chunk.
        while shared.paused.load(Ordering::SeqCst) {
            if !running() {
                break 'outer;
            }
            thread::sleep(POLL);
        }
        let delay = *shared.delay.lock().unwrap();
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if !running() {
            break;
        }
        let chunk = &buf[..n];

        // Split what is to be forwarded now into (bytes, frames completed, cut?).
        let mut out: Vec<u8>;
        let mut cut = false;
        let mut frames_done: u64;
        match (&mut rng, chaos) {
            (Some(rng), Some(ch)) => {
                let start = pending.len();
                pending.extend_from_slice(chunk);
                let ends: Vec<usize> = counter.feed(chunk).into_iter().map(|e| e + start).collect();
                let mut upto = 0;
                frames_done = 0;
                for end in ends {
                    if rng.next() % ch.one_in == 0 {
                        let len = end - upto;
                        // Strictly inside: 1..len bytes of the frame go through.
                        let inside = if len > 1 {
                            1 + (rng.next() % (len as u64 - 1)) as usize
                        } else {
                            0
                        };
                        upto += inside;
                        cut = true;
                        break;
                    }
                    upto = end;
                    frames_done += 1;
                }
                out = pending.drain(..upto).collect();
            }
            _ => {
                out = chunk.to_vec();
                frames_done = 0; // counted below, after a possible byte cut
            }
        }

        // A one-shot byte cut takes precedence over everything in this chunk.
        match claim_cut(shared, conn.id, dir, out.len()) {
            Verdict::All => {}
            Verdict::CutAfter(k) => {
                out.truncate(k);
                cut = true;
            }
        }
        if chaos.is_none() {
            frames_done = counter.feed(&out).len() as u64;
        } else if cut {
            // Recount what actually goes out (a byte cut may have shortened it).
            frames_done = frames_done.min(count_complete(dir, &out));
        }

        // Counted before the write, so a peer that sees the bytes sees the counts.
        shared.bytes[dir.index()].fetch_add(out.len() as u64, Ordering::SeqCst);
        shared.frames[dir.index()].fetch_add(frames_done, Ordering::SeqCst);
        if !write_all(dst, &out, conn, shared) {
            break;
        }
        if cut {
            if shared.conns.lock().unwrap().remove(&conn.id).is_some() {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
            }
            conn.cut();
            break;
        }
    }
    // Either side gone (or cut): tear down the whole connection.
    // (Not in the map any more: someone else cut or reset it already.)
    if shared.conns.lock().unwrap().remove(&conn.id).is_some() {
        conn.cut();
    }
}

/// Frames completed within `bytes` starting from a frame boundary.
fn count_complete(dir: Direction, bytes: &[u8]) -> u64 {
    FrameCounter::new(dir).feed(bytes).len() as u64
}

/// Applies a pending byte-cut plan to `len` bytes about to go out on `conn_id` in `dir`.
fn claim_cut(shared: &Shared, conn_id: u64, dir: Direction, len: usize) -> Verdict {
    let mut plan = shared.cut_plan.lock().unwrap();
    let Some(p) = plan.as_mut() else {
        return Verdict::All;
    };
    if p.dir != dir || conn_id < p.min_conn {
        return Verdict::All;
    }
    match p.claimed_by {
        Some(owner) if owner != conn_id => return Verdict::All,
        _ => p.claimed_by = Some(conn_id),
    }
    if (len as u64) < p.remaining {
        p.remaining -= len as u64;
        return Verdict::All;
    }
    let k = p.remaining as usize;
    *plan = None;
    Verdict::CutAfter(k)
}

/// `write_all` that tolerates write timeouts (a slow reader) but stops when the
/// connection is cut or the proxy stops.
fn write_all(mut dst: &TcpStream, mut data: &[u8], conn: &Conn, shared: &Shared) -> bool {
    while !data.is_empty() {
        if conn.is_dead() || shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        match dst.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Frame counting
// ---------------------------------------------------------------------------

/// Streaming NATS frame splitter. Ops with a payload (`MSG`, `HMSG` from the
/// server, `PUB`, `HPUB` from the client) are one frame including the payload and
/// its CRLF; every other op is one line up to `\n`.
pub struct FrameCounter {
    dir: Direction,
    line: Vec<u8>,
    /// Payload bytes (including the trailing CRLF) still to come.
    payload_left: usize,
}

impl FrameCounter {
    pub fn new(dir: Direction) -> FrameCounter {
        FrameCounter {
            dir,
            line: Vec::new(),
            payload_left: 0,
        }
    }

    /// Feed the next bytes; returns the offsets (into `data`, exclusive) at which a
    /// frame ended.
    pub fn feed(&mut self, data: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if self.payload_left > 0 {
                let take = self.payload_left.min(data.len() - i);
                self.payload_left -= take;
                i += take;
                if self.payload_left == 0 {
                    ends.push(i);
                }
                continue;
            }
            match data[i..].iter().position(|&b| b == b'\n') {
                None => {
                    self.line.extend_from_slice(&data[i..]);
                    i = data.len();
                }
                Some(p) => {
                    self.line.extend_from_slice(&data[i..i + p]);
                    i += p + 1;
                    match self.payload_len() {
                        Some(len) => {
                            self.payload_left = len + 2;
                        }
                        None => ends.push(i),
                    }
                    self.line.clear();
                }
            }
        }
        ends
    }

    /// Payload size announced by the control line just completed, if it has one.
    fn payload_len(&self) -> Option<usize> {
        let line = String::from_utf8_lossy(&self.line);
        let mut parts = line.split_ascii_whitespace();
        let op = parts.next()?.to_ascii_uppercase();
        let with_payload = match self.dir {
            Direction::ServerToClient => op == "MSG" || op == "HMSG",
            Direction::ClientToServer => op == "PUB" || op == "HPUB",
        };
        if !with_payload {
            return None;
        }
        // The last field is the (total) size for all four ops.
        parts.last()?.parse().ok()
    }
}

/// xorshift64*: tiny, deterministic, good enough for picking cut points.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Never zero; mix the seed a little.
        XorShift((seed ^ 0x2545_F491_4F6C_DD1D).max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `SO_LINGER {on, 0}`: the socket's last close sends RST instead of FIN
/// (through `socket2`, since `TcpStream::set_linger` is unstable). Returns
/// whether it worked.
pub fn set_linger_zero(stream: &TcpStream) -> bool {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .is_ok()
}
