//! A supervised actor service that keeps working through a server restart.
//!
//! Three actors: a `Ticker` that publishes a numbered tick every 100 ms by
//! sending `Publish` to the Connection actor, a `Counter` subscribed to the
//! ticks (it receives them in its own `Handler<Msg>`), and a `Watcher`
//! that prints the connection's status events. Restart the server while it
//! runs: the events show `disconnected`, `reconnecting`, `reconnected`; the
//! ticks published while the server was down wait in the reconnect buffer
//! and arrive, in order, after the subscription is replayed. Nothing is
//! lost and the actors never notice.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example supervised           # NATS_URL=... to choose the server
//! # now restart nats-server, and watch
//! ```
//!
//! `--self-test` runs the whole story on its own: it starts a nats-server
//! on a free port (`$NATS_SERVER`, else `.tools/nats-server-*/bin`, else
//! `nats-server` on `PATH`), kills it after a few ticks, starts it again on
//! the same port, and exits 0 only if every tick arrived once, in order.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix::prelude::*;
use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, Event, Msg, Publish};
use tokio::sync::mpsc;

/// Publishes a numbered tick every 100 ms through the Connection actor.
struct Ticker {
    conn: Addr<nats_actix::connection::Connection>,
    next: u64,
}

impl Actor for Ticker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(100), |act, _| {
            // Loud if it ever fails: a failed do_send(Publish) is counted
            // and raised as an Error event, which the Watcher prints.
            act.conn
                .do_send(Publish::new("ticks", act.next.to_string()));
            act.next += 1;
        });
    }
}

/// Receives the ticks in its own handler.
struct Counter {
    seen: mpsc::UnboundedSender<u64>,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Msg> for Counter {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        if let Some(n) = msg.payload_str().ok().and_then(|s| s.parse().ok()) {
            let _ = self.seen.send(n);
        }
    }
}

/// Prints every status event.
struct Watcher;

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<Event> for Watcher {
    type Result = ();
    fn handle(&mut self, e: Event, _: &mut Context<Self>) {
        eprintln!("[event] {e}");
    }
}

fn start_server(port: u16) -> Child {
    Command::new(common::server_binary())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start nats-server: {e} (install it with scripts/install-nats-server.sh)");
            std::process::exit(1)
        })
}

async fn wait_listening(port: u16) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("error: nats-server did not listen on {port}");
    std::process::exit(1);
}

#[actix_rt::main]
async fn main() {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let mut server = None;
    let url = if self_test {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(14222);
        server = Some((start_server(port), port));
        wait_listening(port).await;
        format!("nats://127.0.0.1:{port}")
    } else {
        std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    };

    let opts = ConnectOptions::new()
        .server(&url)
        .name("supervised-example")
        .reconnect_time_wait(Duration::from_millis(200))
        .max_reconnect_attempts(-1)
        .event_recipient(Watcher.start().recipient());
    let client = match Client::connect(opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let (tx, mut seen) = mpsc::unbounded_channel();
    let counter = Counter { seen: tx }.start();
    if let Err(e) = client
        .subscribe_actor("ticks", counter.recipient(), SubscribeOptions::default())
        .await
    {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let _ = client.flush().await;
    let _ticker = Ticker {
        conn: client.connection().clone(),
        next: 0,
    }
    .start();

    let Some((mut child, port)) = server else {
        // Interactive: print the ticks until Ctrl-C.
        let mut ctrl_c = std::pin::pin!(actix_rt::signal::ctrl_c());
        loop {
            tokio::select! {
                n = seen.recv() => match n {
                    Some(n) => println!("tick {n} ({})", client.connection_state()),
                    None => break,
                },
                _ = &mut ctrl_c => break,
            }
        }
        let _ = client.drain().await;
        return;
    };

    // Self-test: a few ticks, a crash, a restart, more ticks.
    let mut expect = 0u64;
    let mut check = async |until: u64, expect: &mut u64| {
        while *expect < until {
            match tokio::time::timeout(Duration::from_secs(10), seen.recv()).await {
                Ok(Some(n)) if n == *expect => {
                    println!("tick {n}");
                    *expect += 1;
                }
                Ok(Some(n)) => {
                    eprintln!("error: tick {n} arrived, expected {expect}");
                    std::process::exit(1);
                }
                _ => {
                    eprintln!("error: tick {expect} never arrived");
                    std::process::exit(1);
                }
            }
        }
    };
    check(5, &mut expect).await;
    eprintln!("[self-test] killing the server");
    let _ = child.kill();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    eprintln!("[self-test] starting it again on port {port}");
    let mut child = start_server(port);
    wait_listening(port).await;
    check(expect + 15, &mut expect).await;
    let stats = client.stats();
    println!(
        "ok: {expect} ticks, each once and in order, across {} reconnect(s)",
        stats.reconnects
    );
    let _ = client.drain().await;
    let _ = child.kill();
    let _ = child.wait();
    if stats.reconnects == 0 {
        eprintln!("error: the client never reconnected");
        std::process::exit(1);
    }
}
