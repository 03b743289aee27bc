//! The `kv` scenario: KV put and get latency (p50/p99, one operation at a
//! time, as a configuration reader or writer does) and watch throughput
//! (a watch reading every current value of a bucket), nats-actix against
//! async-nats on the same `-js` server, the same bucket and the same keys.
//! See `benches/README.md`.

use super::*;

use async_nats::jetstream as ajs;
use nats_actix::jetstream::kv::{KvConfig, WatchEvent};
use nats_actix::jetstream::{Context, PublishOptions};

const BUCKET: &str = "BENCHKV";
/// Distinct keys the latency runs cycle over.
const KEYS: usize = 100;
/// The value size of every run.
pub(crate) const VALUE: usize = 128;

/// A fresh bucket (history 1, file storage), created outside the clock.
async fn fresh_bucket(url: &str) -> Res<()> {
    let c = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = Context::new(c.clone());
    let _ = js.delete_kv(BUCKET).await;
    js.create_kv(KvConfig::new(BUCKET).history(1)).await?;
    c.close().await?;
    Ok(())
}

fn key(i: usize) -> String {
    format!("k.{}", i % KEYS)
}

/// Per-operation latencies (ns) of `n` puts then `n` gets, nats-actix.
async fn actix_ops(url: &str, n: usize) -> Res<(Vec<u64>, Vec<u64>)> {
    let c = Client::connect(ConnectOptions::new().server(url)).await?;
    let kv = Context::new(c.clone()).kv(BUCKET).await?;
    let value = payload(VALUE);
    for i in 0..KEYS {
        kv.put(&key(i), value.clone()).await?;
    }
    let mut puts = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        kv.put(&key(i), value.clone()).await?;
        puts.push(t.elapsed().as_nanos() as u64);
    }
    let mut gets = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let e = kv.get(&key(i)).await?;
        gets.push(t.elapsed().as_nanos() as u64);
        if e.value.len() != VALUE {
            return Err("nats-actix get: wrong value".into());
        }
    }
    c.close().await?;
    Ok((puts, gets))
}

/// The same with async-nats.
async fn async_ops(url: &str, n: usize) -> Res<(Vec<u64>, Vec<u64>)> {
    let c = async_nats::connect(url).await?;
    let kv = ajs::new(c.clone()).get_key_value(BUCKET).await?;
    let value = payload(VALUE);
    for i in 0..KEYS {
        kv.put(key(i), value.clone()).await?;
    }
    let mut puts = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        kv.put(key(i), value.clone()).await?;
        puts.push(t.elapsed().as_nanos() as u64);
    }
    let mut gets = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let v = kv.get(key(i)).await?;
        gets.push(t.elapsed().as_nanos() as u64);
        if v.map(|v| v.len()) != Some(VALUE) {
            return Err("async-nats get: wrong value".into());
        }
    }
    Ok((puts, gets))
}

/// Fills the bucket with `m` distinct keys (outside the clock).
async fn prefill(url: &str, m: usize) -> Res<()> {
    let c = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = Context::new(c.clone());
    let value = payload(VALUE);
    let mut acks = Vec::with_capacity(256);
    for i in 0..m {
        acks.push(
            js.publish_async(
                format!("$KV.{BUCKET}.w.{i}"),
                value.clone(),
                PublishOptions::default(),
            )
            .await?,
        );
        if acks.len() == 256 {
            for a in acks.drain(..) {
                a.ack().await?;
            }
        }
    }
    for a in acks {
        a.ack().await?;
    }
    c.close().await?;
    Ok(())
}

/// nats-actix: a watch of every key, from its start to the last of the
/// `m` current values.
async fn actix_watch(url: &str, m: usize) -> Res<Duration> {
    let c = Client::connect(ConnectOptions::new().server(url)).await?;
    let kv = Context::new(c.clone()).kv(BUCKET).await?;
    let start = Instant::now();
    let mut w = kv.watch_all().await?;
    let mut seen = 0;
    while seen < m {
        match tokio::time::timeout(IDLE, w.next()).await {
            Ok(Some(Ok(WatchEvent::Entry(_)))) => seen += 1,
            Ok(Some(Ok(WatchEvent::Ready))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err(format!("watch ended after {seen}").into()),
            Err(_) => return Err(format!("watch stalled after {seen}").into()),
        }
    }
    let d = start.elapsed();
    drop(w);
    c.close().await?;
    Ok(d)
}

/// async-nats: `watch_with_history(">")` (last value per key, then
/// updates), to the last of the `m` current values.
async fn async_watch(url: &str, m: usize) -> Res<Duration> {
    let c = async_nats::connect(url).await?;
    let kv = ajs::new(c.clone()).get_key_value(BUCKET).await?;
    let start = Instant::now();
    let mut w = kv.watch_with_history(">").await?;
    let mut seen = 0;
    while seen < m {
        match tokio::time::timeout(IDLE, poll_fn(|cx| Pin::new(&mut w).poll_next(cx))).await {
            Ok(Some(Ok(_))) => seen += 1,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err(format!("watch ended after {seen}").into()),
            Err(_) => return Err(format!("watch stalled after {seen}").into()),
        }
    }
    Ok(start.elapsed())
}

/// The `kv` rows, on a JetStream server of their own. `BENCH_KV_COUNT`
/// (default 5,000) operations per latency run, `BENCH_KV_WATCH` (default
/// 20,000) keys for the watch.
pub(crate) async fn run(cfg: &Config) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    if !cfg.wants("kv") {
        return Ok(rows);
    }
    let n = env_usize("BENCH_KV_COUNT").unwrap_or(5_000).max(1);
    let m = env_usize("BENCH_KV_WATCH").unwrap_or(20_000).max(1);
    let server = js_bench::start()?;
    let url = server.url.clone();
    eprintln!(
        "kv: {} -js at {url} | ops N={n} over {KEYS} keys, watch M={m} keys, {VALUE} B values | runs={} (median), interleaved nats-actix, async-nats",
        server_version(),
        cfg.runs
    );
    let goal = Some(Goal::RatioAtLeast(1.2));
    // [put p50, put p99, get p50, get p99][client][run]
    let mut lat: Vec<[Vec<f64>; 2]> = (0..4).map(|_| Default::default()).collect();
    for run in 0..cfg.runs {
        for client in 0..2usize {
            fresh_bucket(&url).await?;
            let (mut puts, mut gets) = if client == 0 {
                actix_ops(&url, n)
                    .await
                    .map_err(|e| format!("nats-actix kv: {e}"))?
            } else {
                async_ops(&url, n)
                    .await
                    .map_err(|e| format!("async-nats kv: {e}"))?
            };
            puts.sort_unstable();
            gets.sort_unstable();
            let figures = [
                percentile_us(&puts, 0.5),
                percentile_us(&puts, 0.99),
                percentile_us(&gets, 0.5),
                percentile_us(&gets, 0.99),
            ];
            for (q, f) in lat.iter_mut().zip(figures) {
                q[client].push(f);
            }
        }
        eprintln!(
            "kv run {run}: put p50 actix {:.1} µs async-nats {:.1} µs | get p50 actix {:.1} µs async-nats {:.1} µs",
            lat[0][0][run], lat[0][1][run], lat[2][0][run], lat[2][1][run]
        );
    }
    for (i, name) in ["kv put p50", "kv put p99", "kv get p50", "kv get p99"]
        .into_iter()
        .enumerate()
    {
        let [a, b] = std::mem::take(&mut lat[i]);
        let mut row = Row::new(name, Some(VALUE), Unit::Micros, n, median(a));
        row.async_nats = Some(median(b));
        row.goal = goal;
        row.note = format!("one at a time over {KEYS} keys, file storage, history 1");
        rows.push(row);
    }
    fresh_bucket(&url).await?;
    prefill(&url, m).await?;
    let mut v: [Vec<f64>; 2] = Default::default();
    for run in 0..cfg.runs {
        let da = actix_watch(&url, m)
            .await
            .map_err(|e| format!("nats-actix kv watch: {e}"))?;
        let db = async_watch(&url, m)
            .await
            .map_err(|e| format!("async-nats kv watch: {e}"))?;
        v[0].push(m as f64 / da.as_secs_f64());
        v[1].push(m as f64 / db.as_secs_f64());
        eprintln!(
            "kv watch run {run}: actix {:>9.0}/s  async-nats {:>9.0}/s",
            v[0][run], v[1][run]
        );
    }
    let [a, b] = v;
    let mut row = Row::new("kv watch", Some(VALUE), Unit::Rate, m, median(a));
    row.async_nats = Some(median(b));
    row.goal = goal;
    row.note = format!("entries/s, a watch of every key reading {m} current values");
    rows.push(row);
    let c = Client::connect(ConnectOptions::new().server(url.as_str())).await?;
    Context::new(c.clone()).delete_kv(BUCKET).await?;
    c.close().await?;
    drop(server);
    Ok(rows)
}
