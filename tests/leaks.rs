//! Leak-freedom and liveness as measured figures (issue "Deterministic
//! simulation", its real-server part): unanswered requests and failed
//! connects leave nothing behind (muxer waiters, actors, file
//! descriptors), and a server that goes silent is found within
//! 3 × `ping_interval` while the client publishes without a pause.
//!
//! This file is its own test binary and runs its tests one at a time
//! (a mutex), so the process-wide figures (descriptors, tasks) belong to
//! one test.
// Each `#[actix_rt::test]` has a thread and a runtime of its own: the
// guard that keeps them one at a time is meant to be held across awaits.
#![allow(clippy::await_holding_lock)]

mod support;

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nats_actix::{Client, ConnectOptions, ErrorKind, RequestOptions};
use support::NatsServer;
use support::events::{event_sink, is_disconnected, next_of};

const LIMIT: Duration = Duration::from_secs(60);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Our actors alive in the process (supervisors, connections, muxers,
/// subscriptions, pull consumers).
fn actors() -> usize {
    nats_actix::stats::live_actors()
}

/// Waits (up to `LIMIT`) until `f` is at most `bound`, returning the last
/// figure: teardown is asynchronous (actors stop on their next turn), so
/// the figures are read until they settle, not after a fixed sleep.
async fn settles(what: &str, bound: usize, f: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = f();
        if now <= bound || Instant::now() > deadline {
            eprintln!("{what}: {now} (baseline {bound})");
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 10,000 requests nobody answers: 5,000 time out, 5,000 are dropped by
/// their callers at random points (before sending, while waiting). The
/// muxer's table, the actors and the descriptors return to their baseline.
#[actix_rt::test]
async fn unanswered_requests_leave_nothing_behind() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = NatsServer::start();
    let client = within(Client::connect(
        ConnectOptions::new().server(server.client_url()),
    ))
    .await
    .expect("connect");
    // A subscriber that never answers: no 503, the requests wait.
    let _silent = within(client.subscribe("leak.silent")).await.unwrap();
    // One request first, so the muxer's inbox subscription exists in the
    // baseline.
    let warm = client.request_with(
        "leak.silent",
        "x",
        RequestOptions::default().timeout(Duration::from_millis(10)),
    );
    assert!(within(warm).await.is_err());
    within(client.flush()).await.unwrap();
    let (fds0, actors0) = (open_fds(), actors());
    assert_eq!(within(client.pending_requests()).await, 0);

    let started = Instant::now();
    let mut timed_out = 0usize;
    let mut dropped = 0usize;
    for batch in 0..20u64 {
        let mut handles = Vec::new();
        for i in 0..500u64 {
            let c = client.clone();
            handles.push(actix_rt::spawn(async move {
                if i % 2 == 0 {
                    // Times out in the muxer: a typed error.
                    let r = c
                        .request_with(
                            "leak.silent",
                            "x",
                            RequestOptions::default().timeout(Duration::from_millis(20)),
                        )
                        .await;
                    matches!(r, Err(e) if e.kind() == ErrorKind::TimedOut)
                } else {
                    // The caller gives up first, at 0..4 ms: the future
                    // is dropped wherever it is.
                    let give_up = Duration::from_millis((i + batch) % 5);
                    let r = tokio::time::timeout(
                        give_up,
                        c.request_with(
                            "leak.silent",
                            "x",
                            RequestOptions::default().timeout(Duration::from_secs(30)),
                        ),
                    )
                    .await;
                    assert!(r.is_err(), "nobody answers");
                    false
                }
            }));
        }
        for h in handles {
            if within(h).await.expect("a request task panicked") {
                timed_out += 1;
            } else {
                dropped += 1;
            }
        }
    }
    assert_eq!((timed_out, dropped), (5_000, 5_000));
    eprintln!(
        "10,000 unanswered requests in {:?}: 5,000 typed timeouts, 5,000 dropped",
        started.elapsed()
    );
    within(client.flush()).await.unwrap();
    let waiters = within(client.pending_requests()).await;
    assert_eq!(waiters, 0, "leaked muxer waiters");
    let live = settles("live actors", actors0, actors).await;
    assert!(live <= actors0, "actors: {live} > baseline {actors0}");
    let fds = settles("open descriptors", fds0, open_fds).await;
    assert!(fds <= fds0, "descriptors: {fds} > baseline {fds0}");
    // The connection is as good as before.
    let _echo = within(client.subscribe("leak.after")).await.unwrap();
    within(client.flush()).await.unwrap();
    client.close().await.unwrap();
}

/// 1,000 connects refused, 100 timed out (a listener that never speaks)
/// and 100 refused for TLS (TLS required, the server has none): each a
/// typed error, and afterwards the actors (the Supervisor, Connection and
/// Muxer actors of each attempt) and the descriptors are back to their
/// baseline. (Jepsen found jnats leaking a thread per failed connect.)
/// Asserted too: while 100 attempts run, the actors do rise (the check can
/// fail).
#[actix_rt::test]
async fn failed_connects_leave_nothing_behind() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = NatsServer::start();
    // A port nobody listens on.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A listener that accepts (in the kernel's backlog) and never writes.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_url = format!("nats://127.0.0.1:{}", mute.local_addr().unwrap().port());
    let (fds0, actors0) = (open_fds(), actors());

    let started = Instant::now();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut peak = 0;
    let plan: Vec<(String, ConnectOptions)> = (0..1_000)
        .map(|_| {
            (
                "refused".to_string(),
                ConnectOptions::new().server(format!("nats://127.0.0.1:{refused}")),
            )
        })
        .chain((0..100).map(|_| {
            (
                "mute".to_string(),
                ConnectOptions::new()
                    .server(mute_url.clone())
                    .connection_timeout(Duration::from_millis(100)),
            )
        }))
        .chain((0..100).map(|_| {
            (
                "tls".to_string(),
                ConnectOptions::new()
                    .server(server.client_url())
                    .tls_required(true),
            )
        }))
        .collect();
    for chunk in plan.chunks(100) {
        let mut handles = Vec::new();
        for (what, opts) in chunk.iter().cloned() {
            handles.push(actix_rt::spawn(async move {
                (what, Client::connect(opts).await.map(|_| ()))
            }));
        }
        // Sampled while the attempts run (the mute ones last 100 ms).
        tokio::time::sleep(Duration::from_millis(10)).await;
        peak = peak.max(actors());
        for h in handles {
            let (what, r) = within(h).await.expect("a connect task panicked");
            let e = r.expect_err("every connect here fails");
            *kinds.entry(format!("{what}: {:?}", e.kind())).or_default() += 1;
        }
    }
    eprintln!(
        "1,200 failed connects in {:?}: {kinds:?}, {peak} live actors at the peak",
        started.elapsed()
    );
    assert_eq!(kinds.values().sum::<usize>(), 1_200);
    assert!(
        peak > actors0,
        "the attempts ran actors ({peak} at the peak)"
    );
    let live = settles("live actors", actors0, actors).await;
    assert!(live <= actors0, "actors: {live} > baseline {actors0}");
    drop(mute);
    let fds = settles("open descriptors", fds0, open_fds).await;
    assert!(fds <= fds0, "descriptors: {fds} > baseline {fds0}");
}

/// A server that goes silent (a paused proxy) is found within
/// 3 × `ping_interval` (plus scheduling slack) while the client publishes
/// continuously: publishing never starves the pings (async-nats missed
/// dead nodes for minutes, nats.rs #1593).
#[actix_rt::test]
async fn a_silent_server_is_found_within_three_ping_intervals_while_publishing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const PING: Duration = Duration::from_millis(200);
    let server = NatsServer::start();
    let proxy = support::proxy::Proxy::start(server.client_port());
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(proxy.url())
            .ping_interval(PING)
            .max_ping_out(2)
            .max_reconnect_attempts(-1)
            .reconnect_time_wait(Duration::from_millis(50))
            .event_recipient(rec),
    ))
    .await
    .expect("connect");
    within(client.flush()).await.unwrap();
    let publisher = client.clone();
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let stop2 = stop.clone();
    let busy = actix_rt::spawn(async move {
        let mut sent = 0u64;
        while !stop2.get() {
            // Errors (a full reconnect buffer) are fine here: the point
            // is that the client never stops being busy.
            let _ = publisher.publish("live.busy", "x").await;
            sent += 1;
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        sent
    });
    // Let the publishing run for a few ping intervals on a live link.
    tokio::time::sleep(PING * 3).await;
    let paused = Instant::now();
    proxy.pause();
    next_of(&mut rx, is_disconnected).await;
    let found = paused.elapsed();
    stop.set(true);
    let sent = within(busy).await.unwrap();
    eprintln!(
        "silent server found after {found:?} (ping_interval {PING:?}, max_ping_out 2), {sent} publishes meanwhile"
    );
    assert!(
        // 3 x ping_interval, plus a generous second for a loaded machine.
        found <= PING * 3 + Duration::from_secs(1),
        "a silent server went unnoticed for {found:?}"
    );
    proxy.resume();
    client.close().await.unwrap();
}
