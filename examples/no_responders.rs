//! No responders: a request to a subject nobody listens on fails at once
//! with `ErrorKind::NoResponders` (the server answers with status 503)
//! instead of waiting for the timeout. A subscriber that never answers gives
//! `ErrorKind::TimedOut`.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example no_responders  # or NATS_URL=... / first argument
//! ```

use std::time::{Duration, Instant};

use nats_actix::{Client, ConnectOptions, Error, ErrorKind, RequestOptions};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

fn explain(subject: &str, result: Result<nats_actix::Msg, Error>) -> Option<ErrorKind> {
    match result {
        Ok(m) => {
            println!("{subject}: {:?}", m.payload);
            None
        }
        Err(err) => {
            match err.kind() {
                ErrorKind::NoResponders => println!("no one is listening to '{subject}'"),
                ErrorKind::TimedOut => {
                    println!("someone is listening to '{subject}' but didn't respond")
                }
                _ => println!("request failed: {err}"),
            }
            Some(err.kind())
        }
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let nc = Client::connect(ConnectOptions::new().server(server_url())).await?;

    let t = Instant::now();
    let kind = explain("hello.world", nc.request("hello.world", "").await);
    println!("  (after {:?})", t.elapsed());
    assert_eq!(kind, Some(ErrorKind::NoResponders));

    // a silent subscriber: the request times out
    let _silent = nc.subscribe("hello.silent").await?;
    nc.flush().await?;
    let kind = explain(
        "hello.silent",
        nc.request_with(
            "hello.silent",
            "",
            RequestOptions::default().timeout(Duration::from_millis(250)),
        )
        .await,
    );
    assert_eq!(kind, Some(ErrorKind::TimedOut));

    nc.close().await?;
    Ok(())
}
