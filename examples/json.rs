//! JSON payloads: `publish_json` serialises a struct, and
//! `Subscriber::json::<Person>()` turns a subscription into a stream of
//! typed values (a payload that does not decode is an `Err(Codec)` item and
//! the stream goes on).
//!
//! ```sh
//! nats-server -p 4222 &
//! cargo run --example json           # or NATS_URL=... / first argument
//! ```

use nats_actix::{Client, ConnectOptions};
use serde::{Deserialize, Serialize};

fn server_url() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string())
}

#[derive(Debug, Serialize, Deserialize)]
struct Person {
    name: String,
    #[serde(default)]
    age: Option<u32>,
}

#[actix_rt::main]
async fn main() -> nats_actix::Result<()> {
    let client = Client::connect(ConnectOptions::new().server(server_url())).await?;

    let mut people = client.subscribe("people").await?.json::<Person>();
    let reader = actix_rt::spawn(async move {
        let mut good = 0;
        while let Some(item) = people.next().await {
            let n = people.inner().processed();
            match item {
                Ok(p) => {
                    good += 1;
                    println!("[{n}]: {} (age {:?})", p.name, p.age);
                }
                Err(e) => println!("[{n}]: not a Person: {e}"),
            }
        }
        println!("subscription closed");
        good
    });

    client
        .publish_json(
            "people",
            &Person {
                name: "Memo".into(),
                age: None,
            },
        )
        .await?;
    client
        .publish_json(
            "people",
            &Person {
                name: "Ada".into(),
                age: Some(36),
            },
        )
        .await?;
    // a payload that is not a Person: the stream yields an error and goes on
    client.publish("people", "not json").await?;

    client.drain().await?;
    let good = reader.await.unwrap_or(0);
    println!("decoded {good} people");
    assert_eq!(good, 2);
    Ok(())
}
