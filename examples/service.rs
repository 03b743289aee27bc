//! A service (the nats.deno "Services" example) as an actor: it answers
//! `time` requests with the current time and `admin.*` requests with
//! `admin.uptime` (milliseconds since start) and `admin.stop` (replies, then
//! drains its connection). The subject itself selects the behaviour.
//! (For services with discovery and statistics, the Service API of ADR-32,
//! see the `service_actors` and `service_discovery` examples.)
//!
//! Then a client on its own connection asks for the time, the uptime, and
//! stops the service; the example waits for the service's `closed()`.
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example service        # or NATS_URL=... / first argument
//! ```

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use nats_actix::messages::{SubscribeOptions, SubscriptionEnded};
use nats_actix::{Client, ConnectOptions, Msg};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

/// The current UTC time as ISO 8601 (`2024-01-31T12:34:56.789Z`).
fn iso_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Answers `time` and `admin.*`.
struct TimeService {
    client: Client,
    started: Instant,
    time_handled: u64,
    admin_handled: u64,
}

impl Actor for TimeService {
    type Context = Context<Self>;
}

impl Handler<Msg> for TimeService {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        if msg.subject == "time" {
            self.time_handled += 1;
            match msg.respond(iso_now()) {
                Ok(true) => println!("[time] handled #{}", self.time_handled),
                Ok(false) => println!("[time] #{} ignored - no reply subject", self.time_handled),
                Err(e) => println!("[time] #{} failed to respond: {e}", self.time_handled),
            }
            return;
        }
        self.admin_handled += 1;
        let n = self.admin_handled;
        let verb = msg.subject.tokens().nth(1).unwrap_or("").to_string();
        println!("[admin] #{n} handling {verb}");
        match verb.as_str() {
            "uptime" => {
                let _ = msg.respond(self.started.elapsed().as_millis().to_string());
            }
            "stop" => {
                let _ = msg.respond(format!("[admin] #{n} stopping...."));
                // gracefully shut down: the reply above goes out with the drain
                let client = self.client.clone();
                actix_rt::spawn(async move {
                    if let Err(e) = client.drain().await {
                        println!("error draining: {e}");
                    }
                });
            }
            _ => println!("[admin] #{n} ignoring request for {}", msg.subject),
        }
    }
}

impl Handler<SubscriptionEnded> for TimeService {
    type Result = ();
    fn handle(&mut self, ended: SubscriptionEnded, _: &mut Context<Self>) {
        println!("subscription {} drained.", ended.subject);
    }
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let url = server_url();

    // --- the service, on its own connection --------------------------------
    let svc_client =
        Client::connect(ConnectOptions::new().server(&url).name("time-service")).await?;
    let svc = TimeService {
        client: svc_client.clone(),
        started: Instant::now(),
        time_handled: 0,
        admin_handled: 0,
    }
    .start();
    for subject in ["time", "admin.*"] {
        svc_client
            .subscribe_actor(
                subject,
                svc.clone().recipient(),
                SubscribeOptions::default().on_end(svc.clone().recipient()),
            )
            .await?;
        println!("listening for {subject} requests...");
    }
    svc_client.flush().await?;
    let svc_closed = {
        let c = svc_client.clone();
        actix_rt::spawn(async move { c.closed().await })
    };

    // --- a client ------------------------------------------------------------
    let client = Client::connect(ConnectOptions::new().server(&url).name("time-client")).await?;
    for _ in 0..3 {
        let m = client.request("time", "").await?;
        println!("got response: {}", String::from_utf8_lossy(&m.payload));
    }
    let m = client.request("admin.uptime", "").await?;
    println!("uptime: {} ms", String::from_utf8_lossy(&m.payload));
    // nobody answers admin.reboot: the service ignores it, so we time out
    let r = client
        .request_with(
            "admin.reboot",
            "",
            nats_actix::RequestOptions::default().timeout(std::time::Duration::from_millis(200)),
        )
        .await;
    println!(
        "admin.reboot: {}",
        r.map(|_| "answered".to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    let m = client.request("admin.stop", "").await?;
    println!("stop: {}", String::from_utf8_lossy(&m.payload));
    client.close().await?;

    // wait for the service to close
    match svc_closed.await {
        Ok(Some(err)) => println!("connection to {url} closed with an error: {err}"),
        _ => println!("connection to {url} closed"),
    }
    Ok(())
}
