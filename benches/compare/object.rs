//! The object-store scenario (`obj`): put and get of 1 MiB and 100 MiB
//! objects, nats-actix against async-nats (feature `object-store`), on a
//! `nats-server -js -sd <tempdir>` of its own, same bucket configuration
//! (file storage, one replica), default chunk size (128 KiB) for both.
//! Runs are interleaved; the median is reported in MB/s.
//!
//! nats-actix puts with its default window (4 MiB of chunks awaiting
//! acks) and reads through `ObjectReader::next_chunk` (the chunks as they
//! arrive, digest checked); async-nats puts one chunk per round trip and
//! reads through its `AsyncRead` into a 128 KiB buffer.

use super::*;

use nats_actix::jetstream::Context;
use nats_actix::jetstream::object::ObjectStoreConfig;
use tokio::io::AsyncReadExt;

const BUCKET_OURS: &str = "bench_obj_actix";
const BUCKET_THEIRS: &str = "bench_obj_async";

/// (label, object size, objects per run)
const CASES: [(&str, usize, usize); 2] = [("1 MiB", 1 << 20, 32), ("100 MiB", 100 << 20, 1)];

fn object_bytes(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i ^ (i >> 9)) as u8).collect::<Vec<u8>>())
}

async fn actix_store(url: &str) -> Res<(Client, nats_actix::jetstream::object::ObjectStore)> {
    let c = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = Context::new(c.clone());
    let _ = js.delete_object_store(BUCKET_OURS).await;
    let store = js
        .create_object_store(ObjectStoreConfig::new(BUCKET_OURS))
        .await?;
    Ok((c, store))
}

async fn async_store(url: &str) -> Res<async_nats::jetstream::object_store::ObjectStore> {
    let c = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(c);
    let _ = js.delete_object_store(BUCKET_THEIRS).await;
    let store = js
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: BUCKET_THEIRS.to_string(),
            ..Default::default()
        })
        .await?;
    Ok(store)
}

/// Seconds to put `count` objects and to get them back: nats-actix.
async fn actix_run(url: &str, data: &Bytes, count: usize) -> Res<(f64, f64)> {
    let (client, store) = actix_store(url).await?;
    let t = Instant::now();
    for i in 0..count {
        store.put(format!("o{i}").as_str(), &data[..]).await?;
    }
    let put = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..count {
        let mut r = store.get(&format!("o{i}")).await?;
        let mut n = 0;
        while let Some(chunk) = r.next_chunk().await {
            n += chunk?.len();
        }
        if n != data.len() {
            return Err(format!("nats-actix read {n} of {} bytes", data.len()).into());
        }
    }
    let get = t.elapsed().as_secs_f64();
    client.close().await?;
    Ok((put, get))
}

/// The same with async-nats.
async fn async_run(url: &str, data: &Bytes, count: usize) -> Res<(f64, f64)> {
    let store = async_store(url).await?;
    let t = Instant::now();
    for i in 0..count {
        store.put(format!("o{i}").as_str(), &mut &data[..]).await?;
    }
    let put = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut buf = vec![0u8; 128 << 10];
    for i in 0..count {
        let mut r = store.get(format!("o{i}")).await?;
        let mut n = 0;
        loop {
            let k = r.read(&mut buf).await?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n != data.len() {
            return Err(format!("async-nats read {n} of {} bytes", data.len()).into());
        }
    }
    let get = t.elapsed().as_secs_f64();
    Ok((put, get))
}

/// The `obj` rows.
pub(crate) async fn run(cfg: &Config) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    if !cfg.wants("obj") {
        return Ok(rows);
    }
    let server = js_bench::start()?;
    let url = server.url.clone();
    eprintln!(
        "object store: {} -js at {url} | runs={} (median), interleaved nats-actix, async-nats",
        server_version(),
        cfg.runs
    );
    for (label, size, count) in CASES {
        let data = object_bytes(size);
        let mb = (size * count) as f64 / 1e6;
        // [put, get] x [actix, async-nats]
        let mut v: [[Vec<f64>; 2]; 2] = Default::default();
        for run in 0..cfg.runs {
            let (ap, ag) = actix_run(&url, &data, count)
                .await
                .map_err(|e| format!("nats-actix obj {label}: {e}"))?;
            let (bp, bg) = async_run(&url, &data, count)
                .await
                .map_err(|e| format!("async-nats obj {label}: {e}"))?;
            v[0][0].push(mb / ap);
            v[0][1].push(mb / bp);
            v[1][0].push(mb / ag);
            v[1][1].push(mb / bg);
            eprintln!(
                "obj {label:>7} run {run}: put actix {:>6.0} MB/s async-nats {:>6.0} MB/s | get actix {:>6.0} MB/s async-nats {:>6.0} MB/s",
                mb / ap,
                mb / bp,
                mb / ag,
                mb / bg
            );
        }
        for (op, [a, b]) in ["obj-put", "obj-get"].into_iter().zip(v) {
            let mut row = Row::new(op, Some(size), Unit::MBps, count, median(a));
            row.async_nats = Some(median(b));
            row.goal = Some(Goal::RatioAtLeast(1.2));
            row.note = format!("{count} x {label}, 128 KiB chunks, file storage");
            rows.push(row);
        }
    }
    drop(server);
    Ok(rows)
}
