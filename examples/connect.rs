//! Connecting: tries several option sets (like the nats.deno "Connecting to a
//! nats-server" example), prints what the server says about itself, then
//! closes each connection and waits for `closed()`.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example connect                     # nats://127.0.0.1:4222
//! cargo run --example connect -- nats://host:4222 # or NATS_URL=...
//! ```
//!
//! Some option sets are expected to fail (an unreachable port in a pool is
//! skipped, a port nobody listens on is reported); the example exits 0.

use std::time::Duration;

use nats_actix::{Client, ConnectOptions, ServerAddr};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();
    let addr = ServerAddr::parse(&url)?;
    let timeout = Duration::from_secs(2);

    let option_sets: Vec<(String, ConnectOptions)> = vec![
        ("{} (defaults)".into(), ConnectOptions::new()),
        (
            format!("{{ servers: {url:?} }}"),
            ConnectOptions::new().server(&url),
        ),
        (
            format!("{{ servers: [\"127.0.0.1:1\", {url:?}] }} (pool)"),
            ConnectOptions::new()
                .servers(["127.0.0.1:1", url.as_str()])
                .no_randomize(true),
        ),
        (
            format!("{{ port: {} }}", addr.port()),
            ConnectOptions::new().port(addr.port()),
        ),
        (
            format!("{{ servers: \"localhost:{}\" }}", addr.port()),
            ConnectOptions::new().server(format!("localhost:{}", addr.port())),
        ),
        (
            "{ servers: \"127.0.0.1:1\" } (nobody listens)".into(),
            ConnectOptions::new().server("127.0.0.1:1"),
        ),
    ];

    for (label, opts) in option_sets {
        let opts = opts
            .name("connect-example")
            .connection_timeout(timeout)
            .max_reconnect_attempts(0);
        match Client::connect(opts).await {
            Ok(client) => {
                match client.server_info().await {
                    Some(info) => println!(
                        "{label}: connected to {} (nats-server {}, {}:{}, max_payload {})",
                        info.server_name, info.version, info.host, info.port, info.max_payload
                    ),
                    None => println!("{label}: connected (no server info)"),
                }
                // a future that resolves when the client closed, with the
                // reason if it was not requested
                let done = client.clone();
                let done = actix_rt::spawn(async move { done.closed().await });
                client.close().await?;
                match done.await {
                    Ok(Some(err)) => println!("{label}: error closing: {err}"),
                    Ok(None) => println!("{label}: closed"),
                    Err(e) => println!("{label}: closed() task failed: {e}"),
                }
            }
            Err(err) => println!("{label}: error connecting: {err}"),
        }
    }
    Ok(())
}
