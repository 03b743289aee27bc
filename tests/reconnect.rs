//! Conformance cases C27–C30, F41–F56, G57–G60, H67–H68 and K81 of
//! `reference/conformance.md` that tests/resilience.rs does not already
//! cover, against real nats-server processes (and the scripted fake server
//! for server errors a real one will not produce on demand). Every await
//! is bounded.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, ConnectionState, ErrorKind, Event};
use support::NatsServer;
use support::events::{event_sink, is_disconnected, is_reconnected, is_reconnecting, next_timed};
use support::fake::{FakeServer, Script, Step};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn connect_with(url: String, opts: ConnectOptions) -> Client {
    within(Client::connect(opts.server(url)))
        .await
        .expect("connect")
}

fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .reconnect_time_wait(Duration::from_millis(20))
        .reconnect_jitter(Duration::ZERO)
        .max_reconnect_attempts(-1)
}

/// C27: max 10, 5 delivered before a restart, 30 sent after → 10 in all.
#[actix_rt::test]
async fn c27_auto_unsub_across_reconnect() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(server.client_url(), fast().event_recipient(rec)).await;
    let mut sub = within(client.subscribe_with("au", SubscribeOptions::default().max(10)))
        .await
        .unwrap();
    for i in 0..5 {
        within(client.publish("au", format!("{i}"))).await.unwrap();
    }
    for _ in 0..5 {
        within(sub.next_msg()).await.unwrap();
    }
    server.restart();
    next_timed(&mut rx, is_reconnected).await;
    let other = connect_with(server.client_url(), ConnectOptions::new()).await;
    for i in 0..30 {
        within(other.publish("au", format!("{i}"))).await.unwrap();
    }
    within(other.flush()).await.unwrap();
    let mut n = 5;
    while within(sub.next_msg()).await.is_some() {
        n += 1;
    }
    assert_eq!(n, 10);
}

/// C30: 200 cycles of unsubscribe, request timeout, no-responders and a
/// denied reply subject leave no subscription and no waiter behind.
#[actix_rt::test]
async fn c30_no_subscription_leaks() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let service = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut silent = within(service.subscribe("silent")).await.unwrap();
    actix_rt::spawn(async move { while silent.next_msg().await.is_some() {} });
    within(service.flush()).await.unwrap();
    for i in 0..200 {
        let mut s = within(client.subscribe(format!("leak.{i}"))).await.unwrap();
        within(s.unsubscribe()).await.unwrap();
        let e = within(client.request_with(
            "silent",
            "",
            nats_actix::RequestOptions::default().timeout(Duration::from_millis(20)),
        ))
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        let e = within(client.request("nobody", "")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResponders);
        let e = within(client.request_with(
            "nobody",
            "",
            nats_actix::RequestOptions::default().no_mux(true),
        ))
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResponders);
    }
    within(client.flush()).await.unwrap();
    assert_eq!(within(client.pending_requests()).await, 0);
    // The server holds one subscription for this client: the request inbox.
    let connz = server.connz();
    let mine: Vec<u64> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subscriptions"].as_u64().unwrap_or(0))
        .collect();
    assert!(mine.contains(&1), "{mine:?}");
    assert_eq!(
        mine.iter().sum::<u64>(),
        2,
        "client inbox + service sub: {mine:?}"
    );
}

/// F44: each of 10 sequence numbers delivered exactly once to a queue
/// group, before and after a restart.
#[actix_rt::test]
async fn f44_queue_exactly_once_across_restart() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(server.client_url(), fast().event_recipient(rec)).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut s = within(client.queue_subscribe("qx", "g")).await.unwrap();
        let seen = seen.clone();
        members.push(actix_rt::spawn(async move {
            while let Some(m) = s.next_msg().await {
                seen.lock()
                    .unwrap()
                    .push(m.payload_str().unwrap().to_string());
            }
        }));
    }
    within(client.flush()).await.unwrap();
    for i in 0..10 {
        within(client.publish("qx", format!("{i}"))).await.unwrap();
    }
    within(client.flush()).await.unwrap();
    server.kill();
    next_timed(&mut rx, is_disconnected).await;
    for i in 10..20 {
        within(client.publish("qx", format!("{i}"))).await.unwrap();
    }
    server.restart();
    next_timed(&mut rx, is_reconnected).await;
    within(client.flush()).await.unwrap();
    within(async {
        while seen.lock().unwrap().len() < 20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let mut got: Vec<u32> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

/// F45: a message published just before `force_reconnect` is delivered;
/// subscriptions stay active. F56: statistics are exact across it.
#[actix_rt::test]
async fn f45_f56_force_reconnect_flushes_and_counts() {
    let server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(server.client_url(), fast().event_recipient(rec)).await;
    let mut svc = within(client.subscribe("st.svc")).await.unwrap();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            let _ = m.respond("r");
        }
    });
    let mut sub = within(client.subscribe("st.x")).await.unwrap();
    within(client.flush()).await.unwrap();
    within(client.request("st.svc", "q")).await.unwrap();
    within(client.publish("st.x", "1")).await.unwrap();
    within(client.publish("st.x", "2")).await.unwrap();
    within(client.force_reconnect()).await.unwrap();
    next_timed(&mut rx, is_reconnected).await;
    assert_eq!(
        within(sub.next_msg()).await.unwrap().payload_str().unwrap(),
        "1"
    );
    assert_eq!(
        within(sub.next_msg()).await.unwrap().payload_str().unwrap(),
        "2"
    );
    within(client.publish("st.x", "3")).await.unwrap();
    assert_eq!(
        within(sub.next_msg()).await.unwrap().payload_str().unwrap(),
        "3"
    );
    let s = client.stats();
    // in: the request, its reply, 1, 2, 3; out: the request, the reply, 1, 2, 3.
    assert_eq!(
        (s.in_msgs, s.out_msgs, s.connects, s.reconnects),
        (5, 5, 2, 1),
        "{s:?}"
    );
}

/// F46: the first re-attempt waits `reconnect_time_wait` (500 ms) plus
/// jitter, and a dead pool is no tight loop. F49: `close()` while
/// reconnecting ends the loop at once; no further dial attempts.
#[actix_rt::test]
async fn f46_f49_delay_respected_and_close_breaks_the_loop() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new()
            .reconnect_time_wait(Duration::from_millis(500))
            .reconnect_jitter(Duration::from_millis(100))
            .max_reconnect_attempts(-1)
            .event_recipient(rec),
    )
    .await;
    server.kill();
    let (lost, _) = next_timed(&mut rx, is_disconnected).await;
    let (first, _) = next_timed(&mut rx, is_reconnecting).await;
    // The Reconnecting event precedes the attempt's wait: the second one
    // tells when the first attempt ended.
    let (second, _) = next_timed(&mut rx, is_reconnecting).await;
    let waited = second - lost;
    assert!(
        first - lost < Duration::from_millis(100),
        "{:?}",
        first - lost
    );
    assert!(
        waited >= Duration::from_millis(500) && waited <= Duration::from_millis(900),
        "{waited:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.connection_state(), ConnectionState::Reconnecting);
    let start = Instant::now();
    within(client.close()).await.unwrap();
    assert!(within(client.closed()).await.is_none());
    assert!(start.elapsed() < Duration::from_secs(3));
    // No attempt after Closed.
    let (closed_at, _) = next_timed(&mut rx, |e| matches!(e, Event::Closed { .. })).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    while let Ok((t, e)) = rx.try_recv() {
        assert!(
            !is_reconnecting(&e) || t < closed_at,
            "attempt after close: {e}"
        );
    }
}

/// F47: a custom delay handler sees rounds 1..5 and its delays are used.
/// F48: max N → exactly N attempts, then `MaxReconnects`, within
/// N × wait + 500 ms.
#[actix_rt::test]
async fn f47_f48_delay_handler_and_max_reconnects() {
    let mut server = NatsServer::start();
    let rounds = Arc::new(Mutex::new(Vec::new()));
    let r = rounds.clone();
    let (rec, mut rx) = event_sink();
    let client = connect_with(
        server.client_url(),
        ConnectOptions::new()
            .max_reconnect_attempts(5)
            .reconnect_delay_handler(move |n| {
                r.lock().unwrap().push(n);
                Duration::from_millis(50)
            })
            .event_recipient(rec),
    )
    .await;
    server.kill();
    let (lost, _) = next_timed(&mut rx, is_disconnected).await;
    let reason = within(client.closed()).await.expect("a reason");
    let took = lost.elapsed();
    assert_eq!(reason.kind(), ErrorKind::MaxReconnects, "{reason}");
    assert_eq!(*rounds.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    assert!(took < Duration::from_millis(5 * 50 + 500), "{took:?}");
    let mut attempts = 0;
    while let Ok((_, e)) = rx.try_recv() {
        if is_reconnecting(&e) {
            attempts += 1;
        }
    }
    assert_eq!(attempts, 5);
}

/// F50: three servers given, dropped one at a time; after each, publish,
/// flush and receive succeed.
#[actix_rt::test]
async fn f50_failover_three_servers() {
    let mut servers = [
        NatsServer::start(),
        NatsServer::start(),
        NatsServer::start(),
    ];
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        fast()
            .servers(servers.iter().map(|s| s.client_url()))
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let mut sub = within(client.subscribe("three")).await.unwrap();
    within(client.flush()).await.unwrap();
    for round in 0..2 {
        let current = within(client.connected_server()).await.unwrap();
        let idx = servers
            .iter()
            .position(|s| current.ends_with(&format!(":{}", s.client_port())))
            .expect("connected to one of them");
        servers[idx].kill();
        next_timed(&mut rx, is_reconnected).await;
        within(client.publish("three", format!("{round}")))
            .await
            .unwrap();
        within(client.flush()).await.unwrap();
        assert_eq!(
            within(sub.next_msg()).await.unwrap().payload_str().unwrap(),
            round.to_string()
        );
        let now = within(client.connected_server()).await.unwrap();
        assert_ne!(now, current);
    }
}

/// G58: `-ERR 'Stale Connection'` leads to a reconnect, not a close. H67:
/// so does `maximum connections exceeded`, with success once capacity
/// returns. H68: an unknown `-ERR` followed by the server's close: the
/// policy is to report it as an Error event and reconnect.
#[actix_rt::test]
async fn g58_h67_h68_server_errors_reconnect() {
    for text in [
        "Stale Connection",
        "maximum connections exceeded",
        "Any Error",
    ] {
        let fake = FakeServer::start_with(move |i| match i {
            0 => Script::new(vec![Step::err(text), Step::Close]),
            1 => Script::raw(vec![
                Step::Info(support::fake::default_info()),
                Step::expect("CONNECT"),
                Step::err(text),
                Step::Close,
            ]),
            _ => Script::new(vec![]),
        });
        let (rec, mut rx) = event_sink();
        let client = within(Client::connect(
            fast().event_recipient(rec).server(fake.url()),
        ))
        .await
        .unwrap();
        let (_, e) = next_timed(&mut rx, |e| matches!(e, Event::Error(_))).await;
        assert!(
            e.to_string().to_lowercase().contains(&text.to_lowercase()),
            "{e}"
        );
        next_timed(&mut rx, is_disconnected).await;
        next_timed(&mut rx, is_reconnected).await;
        within(client.flush()).await.unwrap();
        assert_eq!(fake.connections(), 3, "{text}");
        assert_eq!(client.connection_state(), ConnectionState::Connected);
    }
}

/// G59: a server that answers only the handshake PING is found stale
/// again and again; the client never closes.
#[actix_rt::test]
async fn g59_stale_detection_repeats() {
    let fake = FakeServer::start_with(|_| Script::new(vec![Step::Silence]));
    let (rec, mut rx) = event_sink();
    let client = within(Client::connect(
        fast()
            .ping_interval(Duration::from_millis(50))
            .max_ping_out(2)
            .event_recipient(rec)
            .server(fake.url()),
    ))
    .await
    .unwrap();
    for _ in 0..3 {
        match next_timed(&mut rx, is_disconnected).await {
            (
                _,
                Event::Disconnected {
                    reason: Some(r), ..
                },
            ) => {
                assert_eq!(r.kind(), ErrorKind::TimedOut, "{r}")
            }
            (_, other) => panic!("{other}"),
        }
    }
    assert_ne!(client.connection_state(), ConnectionState::Closed);
    assert!(fake.connections() >= 3);
}

/// K81: 10,000 pending messages are all delivered before a drain ends the
/// subscription; an idle subscription drains in well under a second.
#[actix_rt::test]
async fn k81_drain_delivers_all_then_closes() {
    let server = NatsServer::start();
    let client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut sub = within(client.subscribe("k81")).await.unwrap();
    let publisher = connect_with(server.client_url(), ConnectOptions::new()).await;
    within(client.flush()).await.unwrap();
    for i in 0..10_000 {
        within(publisher.publish("k81", format!("{i}")))
            .await
            .unwrap();
    }
    within(publisher.flush()).await.unwrap();
    let drainer = client.clone();
    let drain = actix_rt::spawn(async move { drainer.drain().await });
    let mut n = 0;
    while let Some(m) = within(sub.next_msg()).await {
        assert_eq!(m.payload_str().unwrap(), n.to_string());
        n += 1;
    }
    assert_eq!(n, 10_000);
    within(drain).await.unwrap().unwrap();
    assert_eq!(client.connection_state(), ConnectionState::Closed);
    // An idle subscription.
    let idle_client = connect_with(server.client_url(), ConnectOptions::new()).await;
    let mut idle = within(idle_client.subscribe("idle")).await.unwrap();
    let start = Instant::now();
    within(idle.drain()).await.unwrap();
    assert!(within(idle.next_msg()).await.is_none());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// A drain asked for while disconnected takes effect after the reconnect:
/// the publishes buffered before it go out, then the client closes
/// cleanly.
#[actix_rt::test]
async fn drain_while_reconnecting_completes_after_the_reconnect() {
    let mut server = NatsServer::start();
    let (rec, mut rx) = event_sink();
    let client = connect_with(server.client_url(), fast().event_recipient(rec)).await;
    let watcher = {
        server.kill();
        next_timed(&mut rx, is_disconnected).await;
        within(client.publish("drained.pub", "before the drain"))
            .await
            .unwrap();
        let drainer = client.clone();
        let drain = actix_rt::spawn(async move { drainer.drain().await });
        tokio::task::yield_now().await;
        assert_eq!(client.connection_state(), ConnectionState::Draining);
        let err = within(client.request("x", "y")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        server.restart();
        let watcher = connect_with(server.client_url(), ConnectOptions::new()).await;
        (drain, watcher)
    };
    let (drain, _watcher) = watcher;
    within(drain).await.unwrap().expect("the drain completed");
    assert!(within(client.closed()).await.is_none(), "a clean close");
    assert_eq!(client.stats().reconnects, 1);
    // The publish buffered before the drain reached the new server.
    assert_eq!(server.varz()["in_msgs"].as_u64(), Some(1));
}
