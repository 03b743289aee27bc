//! The `debug` option: a protocol trace through `tracing`, with
//! credentials redacted.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nats_actix::{Client, ConnectOptions};
use support::NatsServer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event's fields, formatted, one string per event.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

async fn traced(debug: bool) -> Vec<String> {
    let server = NatsServer::with_config("authorization { user: derek, password: s3cr3t }");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(lines.clone()));
    let client = tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(
            ConnectOptions::new()
                .server(server.client_url())
                .user("derek")
                .pass("s3cr3t")
                .debug(debug),
        ),
    )
    .await
    .expect("timed out")
    .expect("connect");
    let mut sub = client.subscribe("trace.me").await.unwrap();
    client.publish("trace.me", "hello").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), sub.next_msg())
        .await
        .expect("timed out")
        .expect("message");
    client.close().await.unwrap();
    let out = lines.lock().unwrap().clone();
    out.into_iter()
        .filter(|l| l.starts_with("nats_actix::trace"))
        .collect()
}

#[actix_rt::test]
async fn debug_traces_protocol_with_credentials_redacted() {
    let trace = traced(true).await;
    let all = trace.join("\n");
    assert!(all.contains("CONNECT"), "{all}");
    assert!(all.contains("PUB trace.me"), "{all}");
    assert!(all.contains("MSG trace.me"), "{all}");
    assert!(all.contains("SUB"), "{all}");
    assert!(all.contains("derek"), "user names are not secret: {all}");
    assert!(
        !all.contains("s3cr3t"),
        "password leaked into the trace: {all}"
    );
    assert!(all.contains("<redacted>"), "{all}");
}

#[actix_rt::test]
async fn no_trace_without_debug() {
    assert!(traced(false).await.is_empty());
}
