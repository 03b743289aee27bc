//! JetStream streams: create one, read its info, publish to it, get
//! messages back by sequence and by subject, purge (a subject, then all but
//! the newest), delete it.
//!
//! ```sh
//! nats-server -js &
//! cargo run --example js_streams            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example js_streams -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server -js -sd <tempdir> -p <free
//! port>` (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), checks every step and prints `ok: ...`.

mod common;

use common::{Failure, check};

use nats_actix::jetstream::{self, ApiError, PurgeRequest, StorageType, StreamConfig};
use nats_actix::{Client, ConnectOptions};

const STREAM: &str = "EXAMPLE_STREAMS";

async fn run(url: &str) -> Result<(), Failure> {
    let client = Client::connect(ConnectOptions::new().server(url)).await?;
    let js = jetstream::Context::new(client.clone());
    // a leftover of an earlier run
    let _ = js.delete_stream(STREAM).await;

    let config = StreamConfig::new(STREAM, ["weather.>"])
        .storage(StorageType::Memory)
        .max_msgs(1000);
    let info = js.create_stream(config).await?;
    println!(
        "created {} on {:?} ({:?} storage)",
        info.config.name, info.config.subjects, info.config.storage
    );

    for (subject, body) in [
        ("weather.paris", "12C"),
        ("weather.oslo", "-3C"),
        ("weather.paris", "14C"),
        ("weather.lima", "22C"),
        ("weather.paris", "15C"),
    ] {
        let ack = js.publish(subject, body).await?;
        println!("  {subject} {body} -> #{}", ack.seq);
    }

    let info = js.stream_info(STREAM).await?;
    println!(
        "info: {} messages, {} bytes, seq {}..={}",
        info.state.messages, info.state.bytes, info.state.first_seq, info.state.last_seq
    );
    check(info.state.messages == 5, "5 messages stored")?;

    let m = js.get_message(STREAM, 2).await?;
    println!(
        "get #2: {} {} (stored {})",
        m.subject,
        String::from_utf8_lossy(&m.payload),
        m.time
    );
    check(m.subject == "weather.oslo", "#2 is oslo's")?;
    let last = js.get_last_message(STREAM, "weather.paris").await?;
    println!(
        "last on weather.paris: #{} {}",
        last.seq,
        String::from_utf8_lossy(&last.payload)
    );
    check(last.seq == 5, "paris' last is #5")?;

    match js.get_message(STREAM, 99).await {
        Err(e) if ApiError::of(&e).is_some_and(|a| a.err_code == ApiError::NO_MESSAGE_FOUND) => {
            println!("get #99: no message ({e})");
        }
        other => return Err(format!("get #99: {other:?}").into()),
    }

    let purged = js
        .purge_stream(STREAM, PurgeRequest::default().filter("weather.oslo"))
        .await?;
    println!("purged weather.oslo: {purged} message(s)");
    check(purged == 1, "one oslo message purged")?;
    let purged = js
        .purge_stream(STREAM, PurgeRequest::default().keep(1))
        .await?;
    println!("purged all but the newest: {purged} message(s)");
    let info = js.stream_info(STREAM).await?;
    check(info.state.messages == 1, "one message left")?;

    let names = js.stream_names(None).await?;
    println!("streams: {names:?}");
    check(names.iter().any(|n| n == STREAM), "listed")?;

    js.delete_stream(STREAM).await?;
    match js.stream_info(STREAM).await {
        Err(e) if ApiError::of(&e).is_some_and(|a| a.err_code == ApiError::STREAM_NOT_FOUND) => {
            println!("deleted {STREAM}");
        }
        other => return Err(format!("info after delete: {other:?}").into()),
    }
    client.close().await?;
    println!("ok: stream created, read, purged and deleted");
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
