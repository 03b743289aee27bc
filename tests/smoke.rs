mod support;

use std::time::Duration;

use nats_actix::{Client, ConnectOptions, ErrorKind};
use support::NatsServer;

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

#[actix_rt::test]
async fn smoke() {
    let server = NatsServer::start();
    let client = within(Client::connect(
        ConnectOptions::new().server(server.client_url()),
    ))
    .await
    .unwrap();
    let mut sub = within(client.subscribe("foo.*")).await.unwrap();
    within(client.publish("foo.bar", "hello")).await.unwrap();
    within(client.flush()).await.unwrap();
    let msg = within(sub.next_msg()).await.unwrap();
    assert_eq!(msg.subject, "foo.bar");
    assert_eq!(msg.payload, "hello");

    let err = within(client.request("nobody", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoResponders);

    let mut svc = within(client.subscribe("svc")).await.unwrap();
    let c2 = client.clone();
    actix_rt::spawn(async move {
        while let Some(m) = svc.next_msg().await {
            m.respond("pong").unwrap();
        }
        drop(c2);
    });
    within(client.flush()).await.unwrap();
    let reply = within(client.request("svc", "ping")).await.unwrap();
    assert_eq!(reply.payload, "pong");
    let rtt = within(client.rtt()).await.unwrap();
    assert!(rtt < Duration::from_secs(1));
    within(client.close()).await.unwrap();
    assert_eq!(
        within(client.publish("x", "y")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}
