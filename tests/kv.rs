//! The KV store against real nats-server processes: buckets, every key
//! operation, the on-wire format of ADR-8 read back from the raw stream,
//! watches (options, actors, across a restart) and races on R1 and R3.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use nats_actix::jetstream::kv::{Entry, KvConfig, Operation, Store, WatchEvent, WatchOptions};
use nats_actix::jetstream::{ApiError, Context, StorageType};
use nats_actix::{Client, ConnectOptions, ErrorKind};
use support::NatsServer;

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn js(server: &NatsServer) -> Context {
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1),
    ))
    .await
    .expect("connect");
    Context::new(client)
}

fn api_code(e: &nats_actix::Error) -> u64 {
    ApiError::of(e).map_or(0, |a| a.err_code)
}

/// The next entry of a watch (skipping nothing), with a timeout.
async fn next_entry(w: &mut nats_actix::jetstream::kv::KvWatch) -> Entry {
    match within(w.next())
        .await
        .expect("watch ended")
        .expect("watch error")
    {
        WatchEvent::Entry(e) => e,
        WatchEvent::Ready => panic!("expected an entry, got ready"),
    }
}

async fn next_ready(w: &mut nats_actix::jetstream::kv::KvWatch) {
    match within(w.next())
        .await
        .expect("watch ended")
        .expect("watch error")
    {
        WatchEvent::Ready => {}
        WatchEvent::Entry(e) => panic!("expected ready, got {e:?}"),
    }
}

#[actix_rt::test]
async fn buckets_and_their_stream_follow_adr8() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(
        js.create_kv(
            KvConfig::new("cfg")
                .history(5)
                .ttl(Duration::from_secs(60))
                .max_value_size(1024)
                .description("settings"),
        ),
    )
    .await
    .unwrap();
    assert_eq!((kv.bucket(), kv.stream_name()), ("cfg", "KV_cfg"));
    let info = within(js.stream_info("KV_cfg")).await.unwrap();
    let c = &info.config;
    assert_eq!(c.subjects, vec!["$KV.cfg.>".to_string()]);
    assert_eq!(c.max_msgs_per_subject, 5);
    assert_eq!(c.max_age, Duration::from_secs(60));
    assert_eq!(c.max_message_size, 1024);
    assert_eq!(c.duplicate_window, Duration::from_secs(60));
    assert!(c.allow_rollup_hdrs && c.deny_delete && c.allow_direct);
    assert_eq!(c.discard, nats_actix::jetstream::DiscardPolicy::New);
    assert_eq!(c.description.as_deref(), Some("settings"));

    // Open, list, status.
    within(js.kv("cfg")).await.unwrap();
    let e = within(js.kv("nope")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound, "{e}");
    within(js.create_kv(KvConfig::new("other").storage(StorageType::Memory)))
        .await
        .unwrap();
    let mut names = within(js.kv_names()).await.unwrap();
    names.sort();
    assert_eq!(names, vec!["cfg".to_string(), "other".to_string()]);
    within(kv.put("a", "1")).await.unwrap();
    let st = within(kv.status()).await.unwrap();
    assert_eq!((st.bucket.as_str(), st.values, st.history), ("cfg", 1, 5));
    assert_eq!(st.ttl, Duration::from_secs(60));
    assert_eq!(st.backing_store(), "JetStream");
    assert_eq!(within(js.kv_statuses()).await.unwrap().len(), 2);

    // Validation, before any request.
    for bad in ["", "a.b", "a b", "a*", "ä"] {
        let e = within(js.create_kv(KvConfig::new(bad))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{bad:?}: {e}");
    }
    let e = within(js.create_kv(KvConfig::new("h").history(65)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    for bad in ["", ".a", "a.", "a..b", "a*", "a b", "a>"] {
        let e = within(kv.put(bad, "x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{bad:?}: {e}");
    }
    // A value over max_value_size is refused by the stream, typed.
    let e = within(kv.put("big", vec![0u8; 2048])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JetStream, "{e}");

    within(js.delete_kv("other")).await.unwrap();
    let e = within(js.delete_kv("other")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound, "{e}");
}

#[actix_rt::test]
async fn key_operations_and_their_wire_format() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(js.create_kv(KvConfig::new("k").history(10)))
        .await
        .unwrap();
    let r1 = within(kv.put("color", "red")).await.unwrap();
    let r2 = within(kv.put("color", "blue")).await.unwrap();
    let e = within(kv.get("color")).await.unwrap();
    assert_eq!(
        (&e.value[..], e.revision, e.operation),
        (&b"blue"[..], r2, Operation::Put)
    );
    assert_eq!((e.bucket.as_str(), e.key.as_str()), ("k", "color"));
    assert!(e.created_rfc3339().ends_with('Z'));
    let old = within(kv.get_revision("color", r1)).await.unwrap();
    assert_eq!(&old.value[..], b"red");
    // A revision that belongs to another key is not found.
    let other = within(kv.put("size", "L")).await.unwrap();
    let err = within(kv.get_revision("color", other)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "{err}");
    let err = within(kv.get("missing")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "{err}");

    // create: fails over a value, succeeds over a deleted key.
    let err = within(kv.create("color", "green")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyExists, "{err}");
    let rd = within(kv.delete("color")).await.unwrap();
    let err = within(kv.get("color")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "deleted: {err}");
    let raw = within(js.get_message("KV_k", rd)).await.unwrap();
    assert_eq!(raw.subject, "$KV.k.color");
    assert_eq!(
        raw.headers.as_ref().and_then(|h| h.get("KV-Operation")),
        Some("DEL")
    );
    assert!(raw.payload.is_empty());
    let rc = within(kv.create("color", "green")).await.unwrap();
    assert_eq!(&within(kv.get("color")).await.unwrap().value[..], b"green");

    // update: the expected revision, or the typed race error.
    let ru = within(kv.update("color", "teal", rc)).await.unwrap();
    let err = within(kv.update("color", "pink", rc)).await.unwrap_err();
    assert_eq!(
        (err.kind(), api_code(&err)),
        (ErrorKind::JetStream, ApiError::WRONG_LAST_SEQUENCE),
        "{err}"
    );
    let err = within(kv.delete_expect("color", rc)).await.unwrap_err();
    assert_eq!(api_code(&err), ApiError::WRONG_LAST_SEQUENCE, "{err}");

    // History: every revision kept, markers included.
    let h = within(kv.history("color")).await.unwrap();
    let ops: Vec<(Operation, &[u8])> = h.iter().map(|e| (e.operation, &e.value[..])).collect();
    assert_eq!(
        ops,
        vec![
            (Operation::Put, &b"red"[..]),
            (Operation::Put, &b"blue"[..]),
            (Operation::Delete, &b""[..]),
            (Operation::Put, &b"green"[..]),
            (Operation::Put, &b"teal"[..]),
        ]
    );
    assert_eq!(h.last().map(|e| e.revision), Some(ru));

    // Purge: one marker with a rollup, the history gone.
    let rp = within(kv.purge("color")).await.unwrap();
    let raw = within(js.get_message("KV_k", rp)).await.unwrap();
    let hdr = raw.headers.expect("purge headers");
    assert_eq!(
        (hdr.get("KV-Operation"), hdr.get("Nats-Rollup")),
        (Some("PURGE"), Some("sub"))
    );
    let h = within(kv.history("color")).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].operation, Operation::Purge);
    let err = within(kv.history("never")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound);

    // Keys: values only, with filters.
    within(kv.put("db.url", "x")).await.unwrap();
    within(kv.put("db.user", "y")).await.unwrap();
    let mut keys = within(kv.keys()).await.unwrap();
    keys.sort();
    assert_eq!(keys, vec!["db.url", "db.user", "size"]);
    let keys = within(kv.keys_filtered(&["db.*"])).await.unwrap();
    assert_eq!(keys.len(), 2);
    if support::require_server(
        (2, 10, 0),
        "kv keys over several filters",
        "filter_subjects",
    ) {
        let mut keys = within(kv.keys_filtered(&["db.url", "size"])).await.unwrap();
        keys.sort();
        assert_eq!(keys, vec!["db.url", "size"]);
    }

    // purge_deletes: a young marker stays alone; an old one goes.
    within(kv.delete("size")).await.unwrap();
    assert_eq!(within(kv.purge_deletes(None)).await.unwrap(), 2);
    let h = within(kv.history("size")).await.unwrap();
    assert_eq!(h.len(), 1, "only the marker is left: {h:?}");
    assert_eq!(
        within(kv.purge_deletes(Some(Duration::ZERO)))
            .await
            .unwrap(),
        2
    );
    let err = within(kv.history("size")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "{err}");
}

#[actix_rt::test]
async fn watch_options_and_the_ready_marker() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(js.create_kv(KvConfig::new("w").history(5)))
        .await
        .unwrap();
    // An empty bucket is ready at once.
    let mut empty = within(kv.watch_all()).await.unwrap();
    next_ready(&mut empty).await;
    within(kv.put("a", "1")).await.unwrap();
    assert_eq!(&next_entry(&mut empty).await.value[..], b"1");

    within(kv.put("a", "2")).await.unwrap();
    within(kv.put("b", "1")).await.unwrap();
    within(kv.delete("b")).await.unwrap();
    within(kv.put("c.x", "1")).await.unwrap();
    assert_eq!(&next_entry(&mut empty).await.value[..], b"2");

    // Latest per key, markers included, then ready, then updates.
    let mut w = within(kv.watch_all()).await.unwrap();
    let mut initial = Vec::new();
    while let WatchEvent::Entry(e) = within(w.next()).await.unwrap().unwrap() {
        initial.push((e.key, e.operation));
    }
    assert_eq!(
        initial,
        vec![
            ("a".to_string(), Operation::Put),
            ("b".to_string(), Operation::Delete),
            ("c.x".to_string(), Operation::Put),
        ]
    );
    within(kv.put("a", "3")).await.unwrap();
    let e = next_entry(&mut w).await;
    assert_eq!((e.key.as_str(), &e.value[..], e.delta), ("a", &b"3"[..], 0));

    // include_history: every revision; ignore_deletes: no markers.
    let opts = WatchOptions::new()
        .include_history(true)
        .ignore_deletes(true);
    let mut h = within(kv.watch_with(&["a", "b"], opts)).await;
    if support::server_version() < (2, 10, 0) {
        // Two filters need 2.10: a typed refusal with the reason.
        let e = h.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("2.10"), "{e}");
        h = within(
            kv.watch_with(
                &["*"],
                WatchOptions::new()
                    .include_history(true)
                    .ignore_deletes(true),
            ),
        )
        .await;
    }
    let mut h = h.unwrap();
    let mut seen = Vec::new();
    while let WatchEvent::Entry(e) = within(h.next()).await.unwrap().unwrap() {
        seen.push(format!("{}={}", e.key, String::from_utf8_lossy(&e.value)));
    }
    assert_eq!(seen, vec!["a=1", "a=2", "b=1", "a=3"]);

    // meta_only: no values.
    let mut m = within(kv.watch_with(&["c.>"], WatchOptions::new().meta_only(true)))
        .await
        .unwrap();
    let e = next_entry(&mut m).await;
    assert_eq!((e.key.as_str(), e.value.len()), ("c.x", 0));
    next_ready(&mut m).await;

    // updates_only: ready first, then only what is new.
    let mut u = within(kv.watch_with(&[">"], WatchOptions::new().updates_only(true)))
        .await
        .unwrap();
    next_ready(&mut u).await;
    within(kv.put("z", "new")).await.unwrap();
    let e = next_entry(&mut u).await;
    assert_eq!((e.key.as_str(), &e.value[..]), ("z", &b"new"[..]));

    // A bad pattern is typed.
    let e = within(kv.watch("a..b")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
}

/// An actor that records what it is sent.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Actor for Recorder {
    type Context = actix::Context<Self>;
}

impl Handler<Entry> for Recorder {
    type Result = ();
    fn handle(&mut self, e: Entry, _: &mut Self::Context) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{}={}", e.key, String::from_utf8_lossy(&e.value)));
    }
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    within(async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(f(), "{what}");
}

#[actix_rt::test]
async fn watch_into_an_actor() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(js.create_kv(KvConfig::new("act"))).await.unwrap();
    within(kv.put("mode", "blue")).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let actor = Recorder(seen.clone()).start();
    let mut handle = within(kv.watch_into(&[">"], WatchOptions::new(), actor.recipient()))
        .await
        .unwrap();
    within(handle.ready()).await;
    assert!(handle.is_ready());
    assert_eq!(*seen.lock().unwrap(), vec!["mode=blue"]);
    within(kv.put("mode", "green")).await.unwrap();
    let s = seen.clone();
    wait_until("the update reached the actor", move || {
        s.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(seen.lock().unwrap()[1], "mode=green");
    handle.stop();
}

/// Every update made before, during and after a server restart arrives
/// exactly once, in order.
#[actix_rt::test]
async fn a_watch_resumes_across_a_server_restart() {
    let mut server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(js.create_kv(KvConfig::new("rs").history(64)))
        .await
        .unwrap();
    let mut w = within(kv.watch_with(
        &[">"],
        WatchOptions::new().heartbeat(Duration::from_millis(500)),
    ))
    .await
    .unwrap();
    next_ready(&mut w).await;
    let mut expected = Vec::new();
    for i in 0..20 {
        within(kv.put(&format!("k{}", i % 4), i.to_string()))
            .await
            .unwrap();
        expected.push(i.to_string());
    }
    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(String::from_utf8_lossy(&next_entry(&mut w).await.value).to_string());
    }
    server.kill();
    server.restart();
    // Writes while the watch is recovering.
    for i in 20..40 {
        within(async {
            while kv.put(&format!("k{}", i % 4), i.to_string()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        expected.push(i.to_string());
    }
    while got.len() < 40 {
        match within(w.next()).await.expect("watch ended") {
            Ok(WatchEvent::Entry(e)) => got.push(String::from_utf8_lossy(&e.value).to_string()),
            Ok(WatchEvent::Ready) => panic!("a second ready"),
            // Reported, and the watch goes on.
            Err(_) => {}
        }
    }
    // After the restart too.
    within(kv.put("k0", "40")).await.unwrap();
    expected.push("40".to_string());
    got.push(String::from_utf8_lossy(&next_entry(&mut w).await.value).to_string());
    assert_eq!(got, expected);
}

async fn r3(cluster: &support::NatsCluster) -> Context {
    let client = within(Client::connect(
        ConnectOptions::new()
            .servers(cluster.urls())
            .max_reconnect_attempts(-1),
    ))
    .await
    .unwrap();
    Context::new(client).timeout(Duration::from_secs(2))
}

/// A lost race is the same typed error on a replicated bucket (the server
/// says 10164 there, 10071 on R1).
#[actix_rt::test]
async fn races_are_typed_alike_on_r3() {
    let cluster = support::NatsCluster::with_config(3, "jetstream { store_dir: \"{{DIR}}/js\" }\n");
    let js = r3(&cluster).await;
    let kv: Store = within(async {
        loop {
            match js.create_kv(KvConfig::new("r3").replicas(3)).await {
                Ok(kv) => break kv,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    // The new stream may still be electing its leader: the first write
    // is tried until it is stored.
    let rev = within(async {
        loop {
            match kv.put("k", "1").await {
                Ok(rev) => break rev,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    within(kv.put("k", "2")).await.unwrap();
    let err = within(kv.update("k", "3", rev)).await.unwrap_err();
    assert_eq!(
        (err.kind(), api_code(&err)),
        (ErrorKind::JetStream, ApiError::WRONG_LAST_SEQUENCE),
        "{err}"
    );
    let err = within(kv.create("k", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyExists, "{err}");
    assert_eq!(&within(kv.get("k")).await.unwrap().value[..], b"2");
}

/// A watch away while the revisions after its last one leave the stream
/// (here: history 1, the key written twice) cannot deliver them: it says
/// so with an `Error` event, then goes on from what is there.
#[actix_rt::test]
async fn a_watch_reports_a_gap_it_cannot_close() {
    use support::events::{event_sink, next_of};
    let server = NatsServer::with_jetstream();
    let writer = js(&server).await;
    let kv = within(writer.create_kv(KvConfig::new("gap").history(1)))
        .await
        .unwrap();
    within(kv.put("k", "1")).await.unwrap();
    within(kv.put("k", "2")).await.unwrap();
    // The watcher's link goes through a proxy that will fall silent.
    let proxy = support::proxy::Proxy::start(server.client_port());
    let (rec, mut events) = event_sink();
    let watcher = within(Client::connect(
        ConnectOptions::new()
            .server(proxy.url())
            .ping_interval(Duration::from_millis(100))
            .max_ping_out(2)
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1)
            .event_recipient(rec),
    ))
    .await
    .unwrap();
    let wkv = within(Context::new(watcher).kv("gap")).await.unwrap();
    let mut w = within(wkv.watch_all()).await.unwrap();
    assert_eq!(next_entry(&mut w).await.revision, 2);
    next_ready(&mut w).await;
    proxy.pause();
    // Revision 3 is replaced by 4 (history 1) while the watcher is away.
    within(kv.put("k", "3")).await.unwrap();
    within(kv.put("k", "4")).await.unwrap();
    next_of(&mut events, support::events::is_disconnected).await;
    proxy.resume();
    let e = next_of(&mut events, |e| {
        matches!(e, nats_actix::Event::Error(err) if err.to_string().contains("are gone from the stream"))
    })
    .await;
    assert!(e.to_string().contains("3..=3"), "{e}");
    let latest = next_entry(&mut w).await;
    assert_eq!((latest.revision, &latest.value[..]), (4, &b"4"[..]));
}

/// A store whose bucket was deleted after it was opened says so
/// (`BucketNotFound`), not "no responders" (nobody answers direct gets on
/// a stream that is gone).
#[actix_rt::test]
async fn a_deleted_bucket_is_bucket_not_found() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let kv = within(js.create_kv(KvConfig::new("gone"))).await.unwrap();
    within(kv.put("k", "v")).await.unwrap();
    within(js.delete_kv("gone")).await.unwrap();
    let e = within(kv.get("k")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound, "{e}");
}
