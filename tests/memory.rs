//! Memory held by retained small messages, against a real nats-server.
//!
//! The parser copies frames of at most `Limits::copy_below` (8 KiB) out of
//! the connection's 64 KiB read buffer, so a small message the application
//! keeps holds its own few bytes, not the whole read chunk it arrived in.
//! Without the copy, each retained 16-byte message below would pin a chunk
//! of its own: 2,000 x 64 KiB, about 128 MiB.
//!
//! In its own file, hence its own process: the RSS it reads (VmRSS of
//! `/proc/self/status`) is not polluted by other tests. Every await is
//! bounded by a timeout.

mod support;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use nats_actix::{Client, ConnectOptions, Msg, Subscriber};
use support::NatsServer;

const LIMIT: Duration = Duration::from_secs(30);
/// Slow messages, all retained by the test.
const SLOW: usize = 2_000;
const SLOW_SIZE: usize = 16;
/// Busy messages per slow one: ~60 KiB, about one read chunk.
const BUSY_PER_SLOW: usize = 60;
const BUSY_SIZE: usize = 1024;
/// Slow messages per round of publish, flush and receive: bounds what is in
/// flight (~3 MB) well below every pending limit.
const ROUND: usize = 50;
/// RSS growth allowed; without the copy it is about 128 MiB.
const MAX_GROWTH: u64 = 32 << 20;

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS value");
    kb * 1024
}

async fn connect(server: &NatsServer) -> Client {
    within(
        "connect",
        Client::connect(ConnectOptions::new().server(server.client_url())),
    )
    .await
    .expect("connect")
}

async fn recv(sub: &mut Subscriber, what: &str) -> Msg {
    within(what, sub.next_msg())
        .await
        .unwrap_or_else(|| panic!("{what}: subscription ended early"))
}

#[actix_rt::test]
async fn retained_small_messages_do_not_pin_read_chunks() {
    let server = NatsServer::start();
    let subscriber = connect(&server).await;
    let publisher = connect(&server).await;

    let mut slow = within("subscribe slow", subscriber.subscribe("mem.slow"))
        .await
        .expect("subscribe mem.slow");
    let mut busy = within("subscribe busy", subscriber.subscribe("mem.busy"))
        .await
        .expect("subscribe mem.busy");
    within("flush subscriber", subscriber.flush())
        .await
        .expect("flush subscriber");

    let busy_payload = Bytes::from(vec![b'b'; BUSY_SIZE]);
    let mut kept: Vec<Msg> = Vec::with_capacity(SLOW);
    let before = rss_bytes();

    for round in 0..SLOW / ROUND {
        for i in round * ROUND..(round + 1) * ROUND {
            for _ in 0..BUSY_PER_SLOW {
                within(
                    "publish busy",
                    publisher.publish("mem.busy", busy_payload.clone()),
                )
                .await
                .expect("publish mem.busy");
            }
            let payload = format!("slow {i:011}");
            assert_eq!(payload.len(), SLOW_SIZE);
            within("publish slow", publisher.publish("mem.slow", payload))
                .await
                .expect("publish mem.slow");
        }
        within("flush publisher", publisher.flush())
            .await
            .expect("flush publisher");
        // The busy messages are dropped at once; the slow ones are kept.
        for _ in 0..ROUND * BUSY_PER_SLOW {
            let m = recv(&mut busy, "busy message").await;
            assert_eq!(m.payload.len(), BUSY_SIZE);
        }
        for _ in 0..ROUND {
            kept.push(recv(&mut slow, "slow message").await);
        }
    }

    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    eprintln!(
        "RSS before {:.1} MiB, after {:.1} MiB: growth {:.1} MiB for {SLOW} retained \
         {SLOW_SIZE}-byte messages among {:.0} MB of busy traffic (bound {} MiB)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        growth as f64 / 1048576.0,
        (SLOW * BUSY_PER_SLOW * BUSY_SIZE) as f64 / 1e6,
        MAX_GROWTH >> 20,
    );

    for (i, m) in kept.iter().enumerate() {
        assert_eq!(m.payload, Bytes::from(format!("slow {i:011}")), "slow #{i}");
    }
    assert_eq!(
        slow.pending(),
        SLOW as u64,
        "retained slow messages pending"
    );
    assert_eq!(busy.pending(), 0, "busy messages are dropped at once");
    assert_eq!(slow.dropped() + busy.dropped(), 0, "no slow-consumer drops");
    assert!(
        growth < MAX_GROWTH,
        "RSS grew by {:.1} MiB (bound {} MiB): retained small messages pin read chunks",
        growth as f64 / 1048576.0,
        MAX_GROWTH >> 20,
    );

    drop(kept);
    assert_eq!(slow.pending(), 0, "dropping the messages releases them");
    within("close publisher", publisher.close())
        .await
        .expect("close publisher");
    within("close subscriber", subscriber.close())
        .await
        .expect("close subscriber");
}
