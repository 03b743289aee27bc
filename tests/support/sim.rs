//! A deterministic simulated network of NATS servers, for `tests/sim.rs`.
//!
//! The client runs unchanged: [`World::connector`] is given to
//! `ConnectOptions::connector`, and every connection is an in-memory pipe
//! (`tokio::io::duplex`) to a [`serve`] task speaking enough of the server
//! protocol: INFO (with `connect_urls`, `ldm`), CONNECT, PING/PONG,
//! SUB/UNSUB with max, PUB/HPUB routed to MSG on the same connection
//! (echo), a responder on `sim.echo`, and `-ERR`. Time is tokio's paused
//! clock; every choice (faults, their byte offsets and durations, buffer
//! sizes) comes from one seeded `StdRng`, so a seed is a run.
//!
//! # Adding a fault
//!
//! 1. Add a variant to [`Fault`] (what it does, when).
//! 2. Draw it in [`World::draw_fault`] (its share of the connections and
//!    its parameters, from `self.rng` only: never from the OS or the
//!    clock).
//! 3. Carry it out in [`serve`]: on a byte count (`fires_in`/`fires_out`)
//!    or a timer (`timer`). Record anything an invariant needs in
//!    [`Rec`].
//!
//! # Adding an invariant
//!
//! Invariants are checked in `tests/sim.rs` (`check_run`) from what the
//! client reported (its results and events) and what the servers recorded
//! (`World::log`, in the order it happened). Return a description of the
//! violation; the runner prints the seed, the faults drawn and the last
//! events, and `NATS_SIM_SEED=<seed> cargo test --test sim` replays it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use nats_actix::options::{Connector, Io};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// How many servers a world has (`sim-0:4222` ...); `sim-3:4222` is
/// announced by cluster updates but never answers.
pub const SERVERS: usize = 3;

/// What one connection suffers (drawn when it is accepted).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    None,
    /// Close (FIN) after this many bytes from the client: mid control
    /// line, mid payload, mid header block.
    CutIn(usize),
    /// The same with a reset: the client's next read fails.
    ResetIn(usize),
    /// Close after writing this many bytes to the client (mid MSG).
    CutOut(usize),
    /// After this many bytes from the client, neither read nor write for
    /// the duration, then close: only the client's PINGs can tell.
    SilentIn(usize, Duration),
    /// Read the client's bytes only every so often (stalled writes on the
    /// client side, with a small pipe).
    SlowReader(Duration),
    /// Delay everything written to the client.
    Latency(Duration),
    /// `-ERR 'Stale Connection'` after the duration, then close.
    Stale(Duration),
    /// `-ERR 'Authorization Violation'` in answer to CONNECT, then close.
    AuthError,
    /// An INFO with `ldm: true` after the duration, close 100 ms later.
    LameDuck(Duration),
    /// INFOs that change `connect_urls`, every duration.
    ClusterUpdates(Duration),
    /// A MSG with a non-UTF-8 subject to a subscription, every duration.
    Malformed(Duration),
}

/// What the servers saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Rec {
    Accepted {
        conn: u64,
        server: usize,
    },
    Refused {
        server: usize,
    },
    Connect {
        conn: u64,
    },
    Sub {
        conn: u64,
        sid: u64,
        subject: String,
        queue: Option<String>,
    },
    Unsub {
        conn: u64,
        sid: u64,
        max: Option<u64>,
    },
    Pub {
        conn: u64,
        subject: String,
        payload: Vec<u8>,
    },
    /// The server's side of the link ended.
    Closed {
        conn: u64,
    },
    /// The client dropped its side of the link (what it wrote and the
    /// server did not read by then is gone).
    ClientGone {
        conn: u64,
    },
    ServerDown {
        server: usize,
    },
    ServerUp {
        server: usize,
    },
}

struct Server {
    up: bool,
    /// Bumped when the server goes down: its connections close.
    kill: watch::Sender<u64>,
}

struct State {
    rng: StdRng,
    servers: Vec<Server>,
    next_conn: u64,
    /// No new faults (the end of a run).
    calm: bool,
    log: Vec<Rec>,
    faults: Vec<(u64, Fault)>,
    /// Every byte in and out, tagged by connection (the determinism check).
    transcript: Vec<u8>,
    /// Subscriptions of each live connection: sid -> (subject, queue,
    /// max, delivered).
    subs: BTreeMap<u64, BTreeMap<u64, Sub>>,
}

/// A subscription as a server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sub {
    pub subject: String,
    pub queue: Option<String>,
    pub max: Option<u64>,
    pub delivered: u64,
}

/// The simulated servers of one run.
#[derive(Clone)]
pub struct World {
    state: Arc<Mutex<State>>,
}

impl World {
    pub fn new(seed: u64) -> World {
        let servers = (0..SERVERS)
            .map(|_| Server {
                up: true,
                kill: watch::channel(0).0,
            })
            .collect();
        World {
            state: Arc::new(Mutex::new(State {
                rng: StdRng::seed_from_u64(seed ^ 0x5157_0000_0000_0000),
                servers,
                next_conn: 0,
                calm: false,
                log: Vec::new(),
                faults: Vec::new(),
                transcript: Vec::new(),
                subs: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The URLs to give the client.
    pub fn urls() -> Vec<String> {
        (0..SERVERS)
            .map(|i| format!("nats://sim-{i}:4222"))
            .collect()
    }

    /// A number from the world's generator (for the workload's own
    /// choices: one seed, one run).
    pub fn below(&self, n: u64) -> u64 {
        self.lock().rng.random_range(0..n.max(1))
    }

    /// From now on no new faults, every server up.
    pub fn calm(&self) {
        let mut s = self.lock();
        s.calm = true;
        for i in 0..SERVERS {
            if !s.servers[i].up {
                s.servers[i].up = true;
                s.log.push(Rec::ServerUp { server: i });
            }
        }
    }

    pub fn log(&self) -> Vec<Rec> {
        self.lock().log.clone()
    }

    pub fn faults(&self) -> Vec<(u64, Fault)> {
        self.lock().faults.clone()
    }

    pub fn transcript(&self) -> Vec<u8> {
        self.lock().transcript.clone()
    }

    /// The subscriptions the server holds for connection `conn` now.
    pub fn subs_of(&self, conn: u64) -> BTreeMap<u64, Sub> {
        self.lock().subs.get(&conn).cloned().unwrap_or_default()
    }

    /// The fault drawn for connection `conn`.
    pub fn fault_of(&self, conn: u64) -> Option<Fault> {
        self.lock()
            .faults
            .iter()
            .find(|(c, _)| *c == conn)
            .map(|(_, f)| f.clone())
    }

    /// The newest connection still open, if any.
    pub fn live_conn(&self) -> Option<u64> {
        self.lock().subs.keys().next_back().copied()
    }

    /// Takes server `i` down (closing its connections, refusing new
    /// ones); a restarted server has forgotten every subscription.
    pub fn down(&self, i: usize) {
        let mut s = self.lock();
        if s.calm || !s.servers[i].up {
            return;
        }
        s.servers[i].up = false;
        s.servers[i].kill.send_modify(|g| *g += 1);
        s.log.push(Rec::ServerDown { server: i });
    }

    /// Every server goes down now, faults or not (their links close,
    /// connects are refused) until [`World::all_up`].
    pub fn all_down(&self) {
        let mut s = self.lock();
        for i in 0..SERVERS {
            s.servers[i].up = false;
            s.servers[i].kill.send_modify(|g| *g += 1);
            s.log.push(Rec::ServerDown { server: i });
        }
    }

    pub fn all_up(&self) {
        for i in 0..SERVERS {
            self.up(i);
        }
    }

    /// The server of connection `conn`.
    pub fn server_of(&self, conn: u64) -> Option<usize> {
        self.lock().log.iter().find_map(|r| match r {
            Rec::Accepted { conn: c, server } if *c == conn => Some(*server),
            _ => None,
        })
    }

    pub fn up(&self, i: usize) {
        let mut s = self.lock();
        if !s.servers[i].up {
            s.servers[i].up = true;
            s.log.push(Rec::ServerUp { server: i });
        }
    }

    fn draw_fault(s: &mut State) -> Fault {
        if s.calm {
            return Fault::None;
        }
        let ms = |r: &mut StdRng, lo: u64, hi: u64| Duration::from_millis(r.random_range(lo..hi));
        let r = &mut s.rng;
        match r.random_range(0..100u32) {
            0..=24 => Fault::None,
            25..=39 => Fault::CutIn(r.random_range(0..4_000)),
            40..=46 => Fault::ResetIn(r.random_range(0..4_000)),
            47..=56 => Fault::CutOut(r.random_range(0..4_000)),
            57..=62 => {
                let n = r.random_range(0..4_000);
                Fault::SilentIn(n, ms(r, 100, 2_000))
            }
            63..=67 => Fault::SlowReader(ms(r, 1, 20)),
            68..=74 => Fault::Latency(ms(r, 1, 50)),
            75..=79 => Fault::Stale(ms(r, 10, 500)),
            80..=82 => Fault::AuthError,
            83..=86 => Fault::LameDuck(ms(r, 10, 500)),
            87..=92 => Fault::ClusterUpdates(ms(r, 10, 200)),
            _ => Fault::Malformed(ms(r, 5, 100)),
        }
    }

    /// The connector to give `ConnectOptions::connector`.
    pub fn connector(&self) -> Connector {
        let world = self.clone();
        Arc::new(move |addr: &str| {
            let r = world.accept(addr);
            Box::pin(async move { r })
        })
    }

    fn accept(&self, addr: &str) -> io::Result<Box<dyn Io>> {
        let server = addr
            .strip_prefix("sim-")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < SERVERS);
        let mut s = self.lock();
        let Some(server) = server.filter(|&i| s.servers[i].up) else {
            s.log.push(Rec::Refused {
                server: server.unwrap_or(SERVERS),
            });
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        };
        s.next_conn += 1;
        let conn = s.next_conn;
        let fault = World::draw_fault(&mut s);
        let cap = s.rng.random_range(512..65_536);
        s.faults.push((conn, fault.clone()));
        s.log.push(Rec::Accepted { conn, server });
        s.subs.insert(conn, BTreeMap::new());
        let kill = s.servers[server].kill.subscribe();
        drop(s);
        let (client, far) = tokio::io::duplex(cap);
        let reset = Arc::new(AtomicBool::new(false));
        tokio::task::spawn_local(serve(
            self.clone(),
            conn,
            server,
            fault,
            far,
            kill,
            reset.clone(),
        ));
        Ok(Box::new(SimIo {
            inner: client,
            reset,
            world: self.clone(),
            conn,
        }))
    }

    fn record(&self, rec: Rec) {
        self.lock().log.push(rec);
    }

    fn tape(&self, conn: u64, dir: u8, bytes: &[u8]) {
        let mut s = self.lock();
        s.transcript
            .extend_from_slice(format!("\n#{conn}{}", dir as char).as_bytes());
        s.transcript.extend_from_slice(bytes);
    }
}

/// The client's end of a pipe; a reset makes its reads and writes fail.
struct SimIo {
    inner: DuplexStream,
    reset: Arc<AtomicBool>,
    world: World,
    conn: u64,
}

impl Drop for SimIo {
    fn drop(&mut self) {
        self.world.record(Rec::ClientGone { conn: self.conn });
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

impl AsyncRead for SimIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::Relaxed) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.reset.load(Ordering::Relaxed) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn info(server: usize, extra: &str) -> Vec<u8> {
    info_with(server, &(0..SERVERS).collect::<Vec<_>>(), extra)
}

fn info_with(server: usize, urls: &[usize], extra: &str) -> Vec<u8> {
    let urls: Vec<String> = urls.iter().map(|i| format!("\"sim-{i}:4222\"")).collect();
    format!(
        "INFO {{\"server_id\":\"SIM{server}\",\"server_name\":\"sim-{server}\",\"version\":\"2.10.0\",\"proto\":1,\"host\":\"sim-{server}\",\"port\":4222,\"headers\":true,\"max_payload\":1048576,\"connect_urls\":[{}]{extra}}}\r\n",
        urls.join(",")
    )
    .into_bytes()
}

/// Whether `subject` matches the subscription `pattern` (`*`, `>`).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Why a connection ends.
enum End {
    Close,
    Reset,
}

/// One server connection: the protocol and the connection's fault.
#[allow(unused_assignments)] // the byte counts of the `send!` macro
async fn serve(
    world: World,
    conn: u64,
    server: usize,
    fault: Fault,
    far: DuplexStream,
    mut kill: watch::Receiver<u64>,
    reset: Arc<AtomicBool>,
) {
    let (mut rd, mut wr) = tokio::io::split(far);
    let mut out_total = 0usize;
    let mut in_total = 0usize;
    let mut buf = BytesMut::with_capacity(8192);
    let started = Instant::now();
    // The next timed action.
    let mut timer: Option<Instant> = match &fault {
        Fault::Stale(d) | Fault::LameDuck(d) | Fault::ClusterUpdates(d) | Fault::Malformed(d) => {
            Some(started + *d)
        }
        _ => None,
    };
    let mut lame_close: Option<Instant> = None;
    let mut updates = 0u32;
    let mut connected = false;

    // Writes to the client, obeying CutOut and Latency; false: the
    // connection is over.
    macro_rules! send {
        ($bytes:expr) => {{
            let bytes: Vec<u8> = $bytes;
            if let Fault::Latency(d) = &fault {
                tokio::time::sleep(*d).await;
            }
            let (bytes, cut) = match &fault {
                Fault::CutOut(n) if out_total + bytes.len() >= *n => {
                    (bytes[..n.saturating_sub(out_total)].to_vec(), true)
                }
                _ => (bytes, false),
            };
            out_total += bytes.len();
            world.tape(conn, b'>', &bytes);
            let ok = wr.write_all(&bytes).await.is_ok();
            !cut && ok
        }};
    }

    let end = 'conn: {
        if !send!(info(server, "")) {
            break 'conn End::Close;
        }
        loop {
            let wake = match (timer, lame_close) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                _ = kill.changed() => break 'conn End::Close,
                _ = async {
                    match wake {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    if lame_close.is_some_and(|t| now >= t) {
                        break 'conn End::Close;
                    }
                    if timer.is_some_and(|t| now >= t) {
                        timer = None;
                        match &fault {
                            Fault::Stale(_) => {
                                let _ = send!(b"-ERR 'Stale Connection'\r\n".to_vec());
                                break 'conn End::Close;
                            }
                            Fault::LameDuck(_) => {
                                if !send!(info(server, ",\"ldm\":true")) {
                                    break 'conn End::Close;
                                }
                                lame_close = Some(now + Duration::from_millis(100));
                            }
                            Fault::ClusterUpdates(d) => {
                                updates += 1;
                                // Announce a server that never answers, then
                                // forget it again.
                                let urls: Vec<usize> = if updates % 2 == 1 {
                                    vec![server, SERVERS]
                                } else {
                                    (0..SERVERS).collect()
                                };
                                if !send!(info_with(server, &urls, "")) {
                                    break 'conn End::Close;
                                }
                                timer = Some(now + *d);
                            }
                            Fault::Malformed(d) => {
                                let sid = world
                                    .lock()
                                    .subs
                                    .get(&conn)
                                    .and_then(|m| m.iter().find(|(_, s)| s.max.is_none() && !s.subject.starts_with("_INBOX")).map(|(sid, _)| *sid));
                                if let Some(sid) = sid {
                                    let mut v = b"MSG p.\xff\xfe ".to_vec();
                                    v.extend_from_slice(format!("{sid} 3\r\nbad\r\n").as_bytes());
                                    if !send!(v) {
                                        break 'conn End::Close;
                                    }
                                }
                                timer = Some(now + *d);
                            }
                            _ => {}
                        }
                    }
                }
                r = async {
                    if let Fault::SlowReader(d) = &fault {
                        tokio::time::sleep(*d).await;
                    }
                    rd.read_buf(&mut buf).await
                } => {
                    let n = match r {
                        Ok(0) | Err(_) => break 'conn End::Close,
                        Ok(n) => n,
                    };
                    let before = in_total;
                    in_total += n;
                    world.tape(conn, b'<', &buf[buf.len() - n..]);
                    // A fault on the incoming byte count: keep only what
                    // came before its offset.
                    let limit = match &fault {
                        Fault::CutIn(k) | Fault::ResetIn(k) | Fault::SilentIn(k, _) if in_total >= *k => {
                            Some(k.saturating_sub(before))
                        }
                        _ => None,
                    };
                    if let Some(keep) = limit {
                        let len = buf.len();
                        buf.truncate(len - n + keep.min(n));
                    }
                    // Every whole op in the buffer.
                    loop {
                        match next_op(&mut buf) {
                            Op::Incomplete => break,
                            Op::Bad => break 'conn End::Close,
                            Op::Connect => {
                                world.record(Rec::Connect { conn });
                                connected = true;
                                if fault == Fault::AuthError {
                                    let _ = send!(b"-ERR 'Authorization Violation'\r\n".to_vec());
                                    break 'conn End::Close;
                                }
                            }
                            Op::Ping => {
                                if !send!(b"PONG\r\n".to_vec()) {
                                    break 'conn End::Close;
                                }
                            }
                            Op::Pong => {}
                            Op::Sub { subject, queue, sid } => {
                                world.record(Rec::Sub { conn, sid, subject: subject.clone(), queue: queue.clone() });
                                world.lock().subs.entry(conn).or_default().insert(sid, Sub { subject, queue, max: None, delivered: 0 });
                            }
                            Op::Unsub { sid, max } => {
                                world.record(Rec::Unsub { conn, sid, max });
                                let mut s = world.lock();
                                if let Some(m) = s.subs.get_mut(&conn) {
                                    match max {
                                        Some(max) if m.get(&sid).is_some_and(|x| x.delivered < max) => {
                                            if let Some(x) = m.get_mut(&sid) {
                                                x.max = Some(max);
                                            }
                                        }
                                        _ => {
                                            m.remove(&sid);
                                        }
                                    }
                                }
                            }
                            Op::Pub { subject, reply, headers, payload } => {
                                world.record(Rec::Pub { conn, subject: subject.clone(), payload: payload.clone() });
                                let out = route(&world, conn, &subject, reply.as_deref(), headers, &payload);
                                for v in out {
                                    if !send!(v) {
                                        break 'conn End::Close;
                                    }
                                }
                            }
                        }
                    }
                    let _ = connected;
                    if limit.is_some() {
                        match &fault {
                            Fault::ResetIn(_) => break 'conn End::Reset,
                            Fault::SilentIn(_, d) => {
                                // Neither read nor write: the client's pings
                                // go unanswered.
                                let d = *d;
                                tokio::select! {
                                    biased;
                                    _ = kill.changed() => {}
                                    _ = tokio::time::sleep(d) => {}
                                }
                                break 'conn End::Close;
                            }
                            _ => break 'conn End::Close,
                        }
                    }
                }
            }
        }
    };
    if let End::Reset = end {
        reset.store(true, Ordering::Relaxed);
    }
    world.record(Rec::Closed { conn });
    world.lock().subs.remove(&conn);
    // Dropping both halves closes the pipe: the client reads end of stream
    // (or the reset).
}

/// What a PUB makes the server send on this connection: MSGs to the
/// matching subscriptions (echo), and the `sim.echo` responder's reply.
fn route(
    world: &World,
    conn: u64,
    subject: &str,
    reply: Option<&str>,
    headers: bool,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut s = world.lock();
    let Some(subs) = s.subs.get_mut(&conn) else {
        return out;
    };
    let mut deliver = |to: &str, reply: Option<&str>, subs: &mut BTreeMap<u64, Sub>| {
        let mut done = Vec::new();
        for (sid, sub) in subs.iter_mut() {
            if !matches(&sub.subject, to) {
                continue;
            }
            sub.delivered += 1;
            let mut v = match reply {
                Some(r) => format!("MSG {to} {sid} {r} {}\r\n", payload.len()).into_bytes(),
                None => format!("MSG {to} {sid} {}\r\n", payload.len()).into_bytes(),
            };
            v.extend_from_slice(payload);
            v.extend_from_slice(b"\r\n");
            out.push(v);
            if sub.max.is_some_and(|m| sub.delivered >= m) {
                done.push(*sid);
            }
        }
        for sid in done {
            subs.remove(&sid);
        }
    };
    if headers {
        // Recorded only: the workload sends no headers.
        return out;
    }
    if subject == "sim.echo" {
        if let Some(r) = reply {
            deliver(r, None, subs);
        }
    } else {
        deliver(subject, reply, subs);
    }
    out
}

enum Op {
    Incomplete,
    Bad,
    Connect,
    Ping,
    Pong,
    Sub {
        subject: String,
        queue: Option<String>,
        sid: u64,
    },
    Unsub {
        sid: u64,
        max: Option<u64>,
    },
    Pub {
        subject: String,
        reply: Option<String>,
        headers: bool,
        payload: Vec<u8>,
    },
}

/// The next whole client op in `buf`, consumed.
fn next_op(buf: &mut BytesMut) -> Op {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > 64 * 1024 {
            Op::Bad
        } else {
            Op::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&buf[..end]) else {
        return Op::Bad;
    };
    let parts: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let verb = parts
        .first()
        .map(|v| v.to_ascii_uppercase())
        .unwrap_or_default();
    let op = match verb.as_str() {
        "CONNECT" => Op::Connect,
        "PING" => Op::Ping,
        "PONG" => Op::Pong,
        "SUB" => match parts.len() {
            3 => Op::Sub {
                subject: parts[1].clone(),
                queue: None,
                sid: parts[2].parse().unwrap_or(0),
            },
            4 => Op::Sub {
                subject: parts[1].clone(),
                queue: Some(parts[2].clone()),
                sid: parts[3].parse().unwrap_or(0),
            },
            _ => return Op::Bad,
        },
        "UNSUB" => Op::Unsub {
            sid: parts.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
            max: parts.get(2).and_then(|s| s.parse().ok()),
        },
        "PUB" | "HPUB" => {
            let headers = verb == "HPUB";
            let (reply, total) = match (headers, parts.len()) {
                (false, 3) => (None, parts[2].parse::<usize>()),
                (false, 4) => (Some(parts[2].clone()), parts[3].parse::<usize>()),
                (true, 4) => (None, parts[3].parse::<usize>()),
                (true, 5) => (Some(parts[2].clone()), parts[4].parse::<usize>()),
                _ => return Op::Bad,
            };
            let Ok(total) = total else { return Op::Bad };
            if buf.len() < end + 2 + total + 2 {
                return Op::Incomplete;
            }
            let payload = buf[end + 2..end + 2 + total].to_vec();
            let subject = parts[1].clone();
            buf.advance(end + 2 + total + 2);
            return Op::Pub {
                subject,
                reply,
                headers,
                payload,
            };
        }
        _ => return Op::Bad,
    };
    buf.advance(end + 2);
    op
}
