//! A 100 MiB object round-trips through the object store with the
//! process's peak RSS growing by no more than two chunk windows (plus a
//! few MiB of slack for allocator and runtime): the put reads from a
//! generator and the get writes to a counting sink, so the object is never
//! in memory as a whole.
//!
//! In its own file, hence its own process: the peak RSS it reads (VmHWM
//! of `/proc/self/status`) is not polluted by other tests. Every await is
//! bounded by a timeout.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use nats_actix::jetstream::Context;
use nats_actix::jetstream::object::{DEFAULT_WINDOW, ObjectStoreConfig};
use nats_actix::{Client, ConnectOptions};
use support::NatsServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const LIMIT: Duration = Duration::from_secs(240);
const SIZE: u64 = 100 << 20;
/// Two windows (one held by the put or the get, one by the connection's
/// buffers) and slack.
const MAX_GROWTH: u64 = 2 * DEFAULT_WINDOW as u64 + (8 << 20);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} line"));
    line.trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .expect("a number of kB")
        * 1024
}

/// `left` bytes of a pattern, made up as they are read.
struct Generator {
    left: u64,
    pos: u64,
}

impl AsyncRead for Generator {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        let start = self.pos;
        let bytes = buf.initialize_unfilled_to(n);
        for (i, b) in bytes.iter_mut().enumerate() {
            let p = start + i as u64;
            *b = (p ^ (p >> 13)) as u8;
        }
        buf.advance(n);
        self.left -= n as u64;
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Counts what is written to it and checks it against the pattern.
struct Sink {
    pos: u64,
    wrong: u64,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let start = self.pos;
        let wrong = buf
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                let p = start + *i as u64;
                **b != (p ^ (p >> 13)) as u8
            })
            .count();
        self.wrong += wrong as u64;
        self.pos += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[actix_rt::test]
async fn a_100_mib_object_round_trips_in_bounded_memory() {
    let server = NatsServer::with_jetstream();
    let client = within(
        "connect",
        Client::connect(ConnectOptions::new().server(server.client_url())),
    )
    .await
    .expect("connect");
    let js = Context::new(client);
    let store = within(
        "create",
        js.create_object_store(ObjectStoreConfig::new("big")),
    )
    .await
    .expect("create bucket");
    // warm up the connection, the runtime and the allocator
    within(
        "warm-up put",
        store.put(
            "warm",
            Generator {
                left: 8 << 20,
                pos: 0,
            },
        ),
    )
    .await
    .expect("warm-up put");
    let mut sink = Sink { pos: 0, wrong: 0 };
    let mut r = within("warm-up get", store.get("warm")).await.expect("get");
    within("warm-up read", tokio::io::copy(&mut r, &mut sink))
        .await
        .expect("warm-up read");
    drop(r);

    let before = status_kb("VmRSS:");
    let info = within("put", store.put("big", Generator { left: SIZE, pos: 0 }))
        .await
        .expect("put");
    assert_eq!((info.size, info.chunks), (SIZE, SIZE / (128 << 10)));
    let after_put = status_kb("VmHWM:");

    let mut reader = within("get", store.get("big")).await.expect("get");
    let mut sink = Sink { pos: 0, wrong: 0 };
    let copied = within("read", tokio::io::copy(&mut reader, &mut sink))
        .await
        .expect("read, digest verified");
    assert_eq!((copied, sink.pos, sink.wrong), (SIZE, SIZE, 0));
    let peak = status_kb("VmHWM:");
    eprintln!(
        "RSS before {} MiB, peak after put {} MiB, peak after get {} MiB (bound: +{} MiB)",
        before >> 20,
        after_put >> 20,
        peak >> 20,
        MAX_GROWTH >> 20
    );
    assert!(
        peak.saturating_sub(before) <= MAX_GROWTH,
        "peak RSS grew by {} MiB, more than {} MiB",
        peak.saturating_sub(before) >> 20,
        MAX_GROWTH >> 20
    );
}
