//! NATS inside an actix-web app. The `Client` is shared with every worker
//! through `web::Data<Client>`:
//!
//! - `POST /publish/{subject}` publishes the request body to `subject` and
//!   answers `202 Accepted`;
//! - `GET /time` asks the `time` NATS service with `client.request` and
//!   returns its answer. The service is an actor subscribed to `time` in
//!   this same process (it could live anywhere on the NATS network).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example actix_web                  # http://127.0.0.1:8080 (or $PORT)
//! curl -i -X POST --data hello http://127.0.0.1:8080/publish/greet.joe
//! curl -i http://127.0.0.1:8080/time
//! cargo run --example actix_web -- --self-test   # port 0, calls both routes, exits 0
//! ```
//!
//! The NATS server comes from `NATS_URL` (default `nats://127.0.0.1:4222`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use actix_web::{App, HttpResponse, HttpServer, get, post, web};
use nats_actix::messages::SubscribeOptions;
use nats_actix::{Client, ConnectOptions, ErrorKind, Msg};

/// The `time` service: answers with the Unix time in milliseconds.
struct TimeService;

impl Actor for TimeService {
    type Context = Context<Self>;
}

impl Handler<Msg> for TimeService {
    type Result = ();
    fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let _ = msg.respond(format!("unix_ms={now}"));
    }
}

#[post("/publish/{subject}")]
async fn publish(
    client: web::Data<Client>,
    subject: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    match client.publish(subject.into_inner(), body).await {
        Ok(()) => HttpResponse::Accepted().finish(),
        Err(e) if e.kind() == ErrorKind::InvalidSubject => {
            HttpResponse::BadRequest().body(format!("{e}\n"))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

#[get("/time")]
async fn time(client: web::Data<Client>) -> HttpResponse {
    match client.request("time", "").await {
        Ok(msg) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(msg.payload),
        Err(e) if matches!(e.kind(), ErrorKind::NoResponders | ErrorKind::TimedOut) => {
            HttpResponse::GatewayTimeout().body(format!("time service: {e}\n"))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

/// One HTTP/1.0 exchange over a plain socket: returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Calls both routes over HTTP and checks the answers, including that the
/// published body really reached NATS.
async fn self_test(client: &Client, addr: SocketAddr) -> Result<(), String> {
    let mut sub = client
        .subscribe("web.test")
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;

    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let r = http(addr, "POST", "/publish/web.test", "hello from http")
            .and_then(|a| Ok((a, http(addr, "GET", "/time", "")?)));
        let _ = tx.send(r);
    });
    let ((post_status, _), (get_status, get_body)) =
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .map_err(|_| "HTTP calls timed out".to_string())?
            .map_err(|_| "HTTP thread died".to_string())?
            .map_err(|e| format!("HTTP error: {e}"))?;

    println!("POST /publish/web.test -> {post_status}");
    if post_status != 202 {
        return Err(format!("POST returned {post_status}, expected 202"));
    }
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next_msg())
        .await
        .map_err(|_| "published message not received".to_string())?
        .ok_or("subscription ended")?;
    println!(
        "NATS got {}: {:?}",
        msg.subject,
        String::from_utf8_lossy(&msg.payload)
    );
    if msg.payload != "hello from http" {
        return Err(format!("unexpected payload {:?}", msg.payload));
    }
    println!("GET /time -> {get_status} {get_body:?}");
    if get_status != 200 || !get_body.starts_with("unix_ms=") {
        return Err(format!("GET /time returned {get_status} {get_body:?}"));
    }
    Ok(())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let self_testing = std::env::args().any(|a| a == "--self-test");
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = Client::connect(ConnectOptions::new().server(&url).name("actix-web-example"))
        .await
        .map_err(std::io::Error::other)?;

    // the NATS service, in the same process
    client
        .subscribe_actor(
            "time",
            TimeService.start().recipient(),
            SubscribeOptions::default(),
        )
        .await
        .map_err(std::io::Error::other)?;
    client.flush().await.map_err(std::io::Error::other)?;

    let port: u16 = if self_testing {
        0
    } else {
        std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080)
    };
    let data = web::Data::new(client.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(publish)
            .service(time)
    })
    .workers(2)
    .bind(("127.0.0.1", port))?;
    let addr = server.addrs()[0];
    let server = server.run();

    if !self_testing {
        println!("listening on http://{addr} (NATS at {url})");
        server.await?;
        client.close().await.map_err(std::io::Error::other)?;
        return Ok(());
    }

    let handle = server.handle();
    let running = actix_rt::spawn(server);
    let result = self_test(&client, addr).await;
    handle.stop(true).await;
    let _ = running.await;
    client.close().await.map_err(std::io::Error::other)?;
    match result {
        Ok(()) => {
            println!("self-test passed");
            Ok(())
        }
        Err(e) => {
            eprintln!("self-test failed: {e}");
            std::process::exit(1);
        }
    }
}
