//! JetStream publish: every publish waits for the stream's ack; a message
//! id makes a retry safe (the stream keeps one copy within its duplicate
//! window); expectations make a publish conditional (optimistic
//! concurrency); a subject no stream captures fails with no responders.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_publish            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_publish -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks every step and prints `ok: ...`.

mod common;

use common::{Failure, check};
use std::time::Duration;

use nats_actix::jetstream::{self, ApiError, PublishOptions, StorageType, StreamConfig};
use nats_actix::{Client, ConnectOptions, ErrorKind, HeaderMap};

const STREAM: &str = "EXAMPLE_PUBLISH";

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(
        StreamConfig::new(STREAM, ["orders.>"])
            .storage(StorageType::Memory)
            .duplicate_window(Duration::from_secs(60)),
    )
    .await?;

    // a plain publish: the ack says where the message went
    let ack = js.publish("orders.new", r#"{"id":1}"#).await?;
    println!("stored in {} as #{}", ack.stream, ack.seq);
    check(ack.seq == 1 && !ack.duplicate, "first ack")?;

    // a message id: publishing it again (a retry after a timeout, say)
    // stores nothing new
    let mut headers = HeaderMap::new();
    headers.insert("Order-Source", "web");
    let opts = PublishOptions::default().msg_id("order-2").headers(headers);
    let first = js
        .publish_with("orders.new", r#"{"id":2}"#, opts.clone())
        .await?;
    let again = js.publish_with("orders.new", r#"{"id":2}"#, opts).await?;
    println!(
        "order-2: #{}, again: #{} duplicate={}",
        first.seq, again.seq, again.duplicate
    );
    check(again.duplicate && again.seq == first.seq, "deduplicated")?;

    // expectations: the stream checks them before storing
    let ok = js
        .publish_with(
            "orders.paid",
            r#"{"id":1}"#,
            PublishOptions::default()
                .expected_stream(STREAM)
                .expected_last_sequence(2),
        )
        .await?;
    println!("expected last sequence 2 held: #{}", ok.seq);
    let stale = js
        .publish_with(
            "orders.paid",
            r#"{"id":2}"#,
            PublishOptions::default().expected_last_sequence(2),
        )
        .await;
    match &stale {
        Err(e) if ApiError::of(e).is_some_and(|a| a.err_code == ApiError::WRONG_LAST_SEQUENCE) => {
            println!("expected last sequence 2 failed: {e}");
        }
        other => return Err(format!("a stale expectation: {other:?}").into()),
    }
    let per_subject = js
        .publish_with(
            "orders.paid",
            r#"{"id":2}"#,
            PublishOptions::default().expected_last_subject_sequence(ok.seq),
        )
        .await?;
    println!(
        "expected last orders.paid sequence {} held: #{}",
        ok.seq, per_subject.seq
    );
    let wrong_id = js
        .publish_with(
            "orders.new",
            "{}",
            PublishOptions::default().expected_last_msg_id("order-1"),
        )
        .await;
    check(wrong_id.is_err(), "expected last msg id order-1 fails")?;
    println!(
        "expected last msg id order-1 failed: {}",
        wrong_id.unwrap_err()
    );

    // no stream captures the subject: not stored
    let none = js
        .publish_with(
            "nowhere.x",
            "lost?",
            PublishOptions::default()
                .retries(0)
                .timeout(Duration::from_secs(2)),
        )
        .await;
    match &none {
        Err(e) if e.kind() == ErrorKind::NoResponders => println!("nowhere.x: {e}"),
        other => return Err(format!("a publish no stream captures: {other:?}").into()),
    }

    let info = js.stream_info(STREAM).await?;
    println!("{STREAM} holds {} messages", info.state.messages);
    check(info.state.messages == 4, "4 messages stored")?;
    js.delete_stream(STREAM).await?;
    client.close().await?;
    println!("ok: acks, deduplication and expectations");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
