//! An ordered consumer ([`Context::ordered`](nats_actix::jetstream::Context::ordered)):
//! it reads a stream (or a filter of it) from the start, every message
//! exactly once and in order, with no acks. Its consumer belongs to the
//! client, which recreates it after a gap, a reconnect or a loss: here it
//! is deleted halfway through, and the reading goes on where it was.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_ordered            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_ordered -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks the order and prints `ok: ...`.

mod common;

use common::{Failure, check};
use std::time::{Duration, Instant};

use nats_actix::jetstream::{self, StorageType, StreamConfig};
use nats_actix::{Client, ConnectOptions};

const STREAM: &str = "EXAMPLE_ORDERED";

/// The next message, waiting up to `within` for one.
async fn next_within(
    ordered: &mut jetstream::OrderedConsumer,
    within: Duration,
) -> Result<jetstream::JsMsg, Failure> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(m) = ordered.next().await? {
            return Ok(m);
        }
        check(Instant::now() < deadline, "no message in time")?;
    }
}

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(StreamConfig::new(STREAM, ["ticks.>"]).storage(StorageType::Memory))
        .await?;
    for i in 1..=10 {
        let subject = if i % 2 == 0 {
            "ticks.even"
        } else {
            "ticks.odd"
        };
        js.publish(subject, format!("tick {i}")).await?;
    }

    // the whole stream, in order
    let mut all = js.ordered(STREAM, None);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let m = next_within(&mut all, Duration::from_secs(5)).await?;
        let info = m.info()?;
        println!(
            "#{} {}: {}",
            info.stream_seq,
            m.subject(),
            String::from_utf8_lossy(m.payload())
        );
        seen.push(info.stream_seq);
    }

    // its consumer goes away (an operator, a restarted server, ...)
    for name in js.consumer_names(STREAM).await? {
        js.delete_consumer(STREAM, &name).await?;
        println!("deleted consumer {name}");
    }
    for i in 11..=12 {
        js.publish("ticks.odd", format!("tick {i}")).await?;
    }
    while seen.len() < 12 {
        let m = next_within(&mut all, Duration::from_secs(10)).await?;
        let info = m.info()?;
        println!(
            "#{} {}: {}",
            info.stream_seq,
            m.subject(),
            String::from_utf8_lossy(m.payload())
        );
        seen.push(info.stream_seq);
    }
    check(
        seen == (1..=12).collect::<Vec<u64>>(),
        format!("every message once, in order: {seen:?}"),
    )?;
    println!("consumers created: {}", all.created);
    check(all.created >= 2, "the consumer was recreated")?;

    // only a filter of it
    let mut even = js.ordered(STREAM, Some("ticks.even"));
    let mut evens = Vec::new();
    while evens.len() < 5 {
        let m = next_within(&mut even, Duration::from_secs(5)).await?;
        evens.push(m.info()?.stream_seq);
    }
    println!("ticks.even: {evens:?}");
    check(evens == [2, 4, 6, 8, 10], "the even ticks")?;

    js.delete_stream(STREAM).await?;
    client.close().await?;
    println!("ok: 12 messages once each, in order, across a lost consumer");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
