//! Codec throughput, no server needed: decode and encode of MSG and HMSG
//! frames at 16 B, 128 B, 1 KiB and 8 KiB payloads.
//!
//! Run with `cargo bench --bench codec`. Decoding feeds the wire in 64 KiB
//! reads (the copy into the read buffer is counted, as in a real client);
//! encoding appends PUB/HPUB frames into one buffer.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use nats_actix::headers::HeaderMap;
use nats_actix::proto::{Limits, Parser, ServerOp, encode_pub};

const SIZES: [usize; 4] = [16, 128, 1024, 8192];
const READ: usize = 64 * 1024;

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", "0123456789");
    h
}

fn wire(size: usize, with_headers: bool, frames: usize) -> Vec<u8> {
    let payload = vec![b'x'; size];
    let mut frame = BytesMut::new();
    let h = headers();
    encode_pub(
        &mut frame,
        b"bench.subject",
        None,
        with_headers.then_some(&h),
        &payload,
    )
    .expect("encode");
    // PUB subj len -> MSG subj sid len
    let text = frame.to_vec();
    let nl = text.iter().position(|b| *b == b'\n').expect("line");
    let line = std::str::from_utf8(&text[..nl - 1]).expect("utf8");
    let mut fields: Vec<&str> = line.split(' ').collect();
    let op = if fields[0] == "PUB" { "MSG" } else { "HMSG" };
    fields[0] = op;
    fields.insert(2, "1");
    let mut one = fields.join(" ").into_bytes();
    one.extend_from_slice(b"\r\n");
    one.extend_from_slice(&text[nl + 1..]);
    one.repeat(frames)
}

fn frames_for(size: usize) -> usize {
    (64 * 1024 * 1024 / (size + 40)).clamp(10_000, 2_000_000)
}

fn decode(size: usize, with_headers: bool) -> (f64, f64) {
    let frames = frames_for(size);
    let wire = wire(size, with_headers, frames);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut parser = Parser::new(Limits::default());
        let mut buf = BytesMut::with_capacity(READ * 2);
        let mut count = 0usize;
        let start = Instant::now();
        for chunk in wire.chunks(READ) {
            buf.extend_from_slice(chunk);
            while let Some(op) = parser.parse(&mut buf).expect("valid") {
                if let ServerOp::Msg { payload, .. } = op {
                    black_box(&payload);
                    count += 1;
                }
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(count, frames);
        best = best.min(elapsed);
    }
    let secs = best.as_secs_f64();
    (frames as f64 / secs, wire.len() as f64 / secs)
}

fn encode(size: usize, with_headers: bool) -> (f64, f64) {
    let frames = frames_for(size);
    let payload = Bytes::from(vec![b'x'; size]);
    let h = headers();
    let mut best = Duration::MAX;
    let mut bytes = 0usize;
    for _ in 0..5 {
        let mut buf = BytesMut::with_capacity(READ * 2);
        bytes = 0;
        let start = Instant::now();
        for _ in 0..frames {
            encode_pub(
                &mut buf,
                b"bench.subject",
                None,
                with_headers.then_some(&h),
                &payload,
            )
            .expect("encode");
            if buf.len() >= READ {
                bytes += buf.len();
                black_box(&buf[..]);
                buf.clear();
            }
        }
        bytes += buf.len();
        best = best.min(start.elapsed());
    }
    let secs = best.as_secs_f64();
    (frames as f64 / secs, bytes as f64 / secs)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then this only checks that the bench starts.
    if !std::env::args().any(|a| a == "--bench") {
        println!("codec bench: run with `cargo bench --bench codec`");
        return;
    }
    println!(
        "{:<8} {:<5} {:>8} {:>14} {:>10}",
        "op", "kind", "payload", "frames/s", "MB/s"
    );
    // CODEC_BENCH=decode|encode and CODEC_SIZE=16 narrow the run.
    let only = std::env::var("CODEC_BENCH").unwrap_or_default();
    let size_only = std::env::var("CODEC_SIZE").unwrap_or_default();
    for with_headers in [false, true] {
        let kind = if with_headers { "HMSG" } else { "MSG" };
        if !only.is_empty() && only != "decode" {
            break;
        }
        for size in SIZES {
            if !size_only.is_empty() && size_only != size.to_string() {
                continue;
            }
            let (fps, bps) = decode(size, with_headers);
            println!(
                "{:<8} {:<5} {:>8} {:>14.0} {:>10.0}",
                "decode",
                kind,
                size,
                fps,
                bps / 1e6
            );
        }
    }
    for with_headers in [false, true] {
        let kind = if with_headers { "HPUB" } else { "PUB" };
        if !only.is_empty() && only != "encode" {
            break;
        }
        for size in SIZES {
            let (fps, bps) = encode(size, with_headers);
            println!(
                "{:<8} {:<5} {:>8} {:>14.0} {:>10.0}",
                "encode",
                kind,
                size,
                fps,
                bps / 1e6
            );
        }
    }
}
