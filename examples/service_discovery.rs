//! Discovering services (ADR-32) with the discovery client: two instances
//! of an `echo` service (sharing the load through the queue group `q`)
//! and one `clock` service run on their own connections; a client then
//! pings every service, pings by name, asks one instance for its INFO, and
//! reads every instance's STATS after a few requests.
//!
//! ```sh
//! nats-server &
//! cargo run --example service_discovery            # NATS_URL, else nats://127.0.0.1:4222
//! cargo run --example service_discovery -- --self-test
//! ```
//!
//! `--self-test` starts its own `nats-server`, checks what discovery
//! finds, and prints `self-test ok`.

mod common;

use std::time::Duration;

use common::{Failure, check};

use nats_actix::service::{Discovery, EndpointHandler, Service};
use nats_actix::{Client, ConnectOptions};

async fn echo(url: &str, n: usize) -> Result<Service, Failure> {
    let nc = Client::connect(ConnectOptions::new().server(url).name(format!("echo-{n}"))).await?;
    let svc = nc
        .service_builder()
        .name("echo")
        .version("1.1.0")
        .description("echoes the request")
        .metadata("instance", n.to_string())
        .start()
        .await?;
    svc.add_endpoint(
        "echo",
        EndpointHandler::func(|req| async move {
            let body = req.payload().clone();
            req.reply(Ok(body))
        }),
    )
    .await?;
    Ok(svc)
}

async fn run(url: &str) -> Result<(), Failure> {
    let e1 = echo(url, 1).await?;
    let e2 = echo(url, 2).await?;
    let nc = Client::connect(ConnectOptions::new().server(url).name("clock")).await?;
    let clock = nc
        .service_builder()
        .name("clock")
        .version("0.3.0")
        .start()
        .await?;
    clock
        .add_endpoint(
            "now",
            EndpointHandler::func(|req| async move {
                let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
                let _ = req.respond(now.to_string());
            }),
        )
        .await?;

    let client = Client::connect(ConnectOptions::new().server(url).name("discoverer")).await?;
    for i in 0..10 {
        client.request("echo", format!("hello {i}")).await?;
    }
    client.request("now", "").await?;

    let discovery = Discovery::new(client.clone()).max_wait(Duration::from_millis(500));
    let all = discovery.ping(None, None).await?;
    println!("PING: {} services", all.len());
    for p in &all {
        println!("  {} {} {}", p.name, p.version, p.id);
    }
    let echoes = discovery.ping(Some("echo"), None).await?;
    println!("PING echo: {} instances", echoes.len());
    let info = discovery.info(Some("echo"), Some(e1.id())).await?;
    for i in &info {
        println!("INFO {} {}: {:?}", i.name, i.id, i.description);
        for e in &i.endpoints {
            println!("  {} on {} (queue {})", e.name, e.subject, e.queue_group);
        }
    }
    let stats = discovery.stats(Some("echo"), None).await?;
    let mut total = 0;
    for s in &stats {
        for e in &s.endpoints {
            println!("STATS {} {}: {} requests", s.id, e.name, e.num_requests);
            total += e.num_requests;
        }
    }

    check(all.len() == 3, format!("3 services, found {}", all.len()))?;
    check(echoes.len() == 2, "2 echo instances")?;
    check(
        info.len() == 1 && info[0].id == e1.id(),
        "INFO of one instance",
    )?;
    check(info[0].endpoints[0].queue_group == "q", "queue group q")?;
    check(
        total == 10,
        format!("10 echo requests in all, counted {total}"),
    )?;
    for s in [&e1, &e2, &clock] {
        s.stop().await?;
    }
    check(discovery.ping(None, None).await?.is_empty(), "all stopped")?;
    if std::env::args().any(|a| a == "--self-test") {
        println!("self-test ok");
    }
    Ok(())
}

#[actix_rt::main]
async fn main() {
    common::main_with(|url| async move { run(&url).await }).await;
}
