//! The object store against real nats-server processes: buckets, put/get
//! round trips of every size, the on-wire format of ADR-20 read back from
//! the raw stream, digest checks, failed and cancelled puts, meta
//! updates, links, delete, list, watch, and interop with async-nats.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use bytes::Bytes;
use nats_actix::jetstream::object::{
    ObjectInfo, ObjectMeta, ObjectStore, ObjectStoreConfig, WatchEvent,
};
use nats_actix::jetstream::{Context, PublishOptions, StorageType};
use nats_actix::{Client, ConnectOptions, ErrorKind, HeaderMap};
use sha2::{Digest, Sha256};
use support::NatsServer;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const LIMIT: Duration = Duration::from_secs(30);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

async fn js(server: &NatsServer) -> Context {
    let client = within(Client::connect(
        ConnectOptions::new().server(server.client_url()),
    ))
    .await
    .expect("connect");
    Context::new(client)
}

async fn bucket(js: &Context, name: &str) -> ObjectStore {
    within(js.create_object_store(ObjectStoreConfig::new(name).storage(StorageType::Memory)))
        .await
        .expect("create bucket")
}

/// Deterministic bytes that differ from chunk to chunk.
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 997) as u8).collect()
}

fn digest_of(d: &[u8]) -> String {
    format!("SHA-256={}", URL_SAFE.encode(Sha256::digest(d)))
}

async fn messages(js: &Context, stream: &str) -> u64 {
    within(js.stream_info(stream))
        .await
        .expect("stream info")
        .state
        .messages
}

/// Polls the stream (a background purge has no event to wait for) until
/// it holds `n` messages.
async fn wait_messages(js: &Context, stream: &str, n: u64) {
    within(async {
        while messages(js, stream).await != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[actix_rt::test]
async fn buckets_create_open_status_list_delete() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = within(
        js.create_object_store(
            ObjectStoreConfig::new("files")
                .description("uploads")
                .ttl(Duration::from_secs(3600)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (store.bucket(), store.stream_name()),
        ("files", "OBJ_files")
    );
    let c = within(js.stream_info("OBJ_files")).await.unwrap().config;
    assert_eq!(
        c.subjects,
        vec!["$O.files.C.>".to_string(), "$O.files.M.>".to_string()]
    );
    assert!(c.allow_rollup_hdrs && c.allow_direct);
    assert_eq!(c.discard, nats_actix::jetstream::DiscardPolicy::New);
    assert_eq!(c.max_age, Duration::from_secs(3600));

    let status = within(store.status()).await.unwrap();
    assert_eq!(status.bucket, "files");
    assert_eq!(status.description.as_deref(), Some("uploads"));
    assert_eq!(
        (status.sealed, status.replicas, status.backing_store()),
        (false, 1, "JetStream")
    );

    bucket(&js, "other").await;
    // a KV bucket is not an object store
    within(js.create_kv(nats_actix::jetstream::kv::KvConfig::new("kvb")))
        .await
        .unwrap();
    let mut names = within(js.object_store_names()).await.unwrap();
    names.sort();
    assert_eq!(names, vec!["files", "other"]);
    let statuses = within(js.object_store_statuses()).await.unwrap();
    assert_eq!(statuses.len(), 2);

    let opened = within(js.object_store("files")).await.unwrap();
    assert_eq!(opened.bucket(), "files");
    let e = within(js.object_store("nope")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound);
    let e = within(js.object_store("a.b")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);

    // compression needs 2.10: refused before, applied after
    let compressed = js.create_object_store(ObjectStoreConfig::new("small").compression(true));
    let r = within(compressed).await;
    if support::server_version() < (2, 10, 0) {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
    } else {
        assert!(within(r.unwrap().status()).await.unwrap().compressed);
    }

    within(opened.put("x", &b"x"[..])).await.unwrap();
    let sealed = within(opened.seal()).await.unwrap();
    assert!(sealed.sealed);
    assert!(
        within(opened.put("y", &b"y"[..])).await.is_err(),
        "a sealed bucket takes no writes"
    );

    within(js.delete_object_store("other")).await.unwrap();
    let e = within(js.delete_object_store("other")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound);
}

#[actix_rt::test]
async fn round_trips_of_every_size() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "sizes").await;
    const CHUNK: usize = 128 * 1024;
    for (n, chunk, want_chunks) in [
        (0, None, 0),
        (1, None, 1),
        (CHUNK, None, 1),
        (CHUNK + 1, None, 2),
        ((3 << 20) + 7, Some(64 * 1024), 49),
    ] {
        let body = data(n);
        let mut meta = ObjectMeta::new(format!("obj-{n}"));
        if let Some(c) = chunk {
            meta = meta.chunk_size(c);
        }
        let info = within(store.put(meta, &body[..])).await.unwrap();
        assert_eq!(
            (info.size, info.chunks),
            (n as u64, want_chunks),
            "size {n}"
        );
        assert_eq!(info.digest, digest_of(&body));
        let info2 = within(store.info(&format!("obj-{n}"))).await.unwrap();
        assert_eq!(info2.nuid, info.nuid);

        // read_all
        let got = within(
            within(store.get(&format!("obj-{n}")))
                .await
                .unwrap()
                .read_all(),
        )
        .await
        .unwrap();
        assert_eq!(got.len(), n);
        assert!(got[..] == body[..], "bytes of size {n}");
        // objects up to a window are pushed; past it (here: a smaller
        // window) read through the ordered pull
        let pulled = within(
            within(store.clone().window(64 * 1024).get(&format!("obj-{n}")))
                .await
                .unwrap()
                .read_all(),
        )
        .await
        .unwrap();
        assert!(pulled[..] == body[..], "pulled bytes of size {n}");
        // AsyncRead
        let mut reader = within(store.get(&format!("obj-{n}"))).await.unwrap();
        let mut out = Vec::new();
        within(reader.read_to_end(&mut out)).await.unwrap();
        assert!(out == body, "AsyncRead of size {n}");
        // chunks
        let mut reader = within(store.get(&format!("obj-{n}"))).await.unwrap();
        let mut chunks = 0;
        while let Some(c) = within(reader.next_chunk()).await {
            let c = c.unwrap();
            assert!(c.len() <= chunk.unwrap_or(CHUNK));
            chunks += 1;
        }
        assert_eq!(chunks, want_chunks);
    }
    let e = within(store.get("missing")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectNotFound);
    let e = within(store.put("", &b"x"[..])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
    let e = within(store.put(ObjectMeta::new("big").chunk_size(2 << 20), &b"x"[..]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[actix_rt::test]
async fn the_wire_format_follows_adr20() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "wire").await;
    let name = "dir/a b.txt";
    let body = b"hello object store".to_vec();
    let meta = ObjectMeta::new(name)
        .description("greeting")
        .metadata("k", "v")
        .chunk_size(8);
    let info = within(store.put(meta, &body[..])).await.unwrap();
    assert_eq!(info.chunks, 3);

    // three chunks, then the meta, in stream order
    let chunk_subject = format!("$O.wire.C.{}", info.nuid);
    let mut rebuilt = Vec::new();
    for seq in 1..=3 {
        let m = within(js.get_message("OBJ_wire", seq)).await.unwrap();
        assert_eq!(m.subject, chunk_subject);
        rebuilt.extend_from_slice(&m.payload);
    }
    assert_eq!(rebuilt, body);
    let m = within(js.get_message("OBJ_wire", 4)).await.unwrap();
    assert_eq!(m.subject, format!("$O.wire.M.{}", URL_SAFE.encode(name)));
    assert_eq!(m.subject, "$O.wire.M.ZGlyL2EgYi50eHQ=");
    let h = m.headers.as_ref().expect("meta headers");
    assert_eq!(h.get("Nats-Rollup"), Some("sub"));
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(v["name"], name);
    assert_eq!(v["bucket"], "wire");
    assert_eq!(v["nuid"], info.nuid.as_str());
    assert_eq!(v["size"], body.len());
    assert_eq!(v["chunks"], 3);
    assert_eq!(v["description"], "greeting");
    assert_eq!(v["metadata"]["k"], "v");
    assert_eq!(v["options"]["max_chunk_size"], 8);
    let digest = v["digest"].as_str().unwrap();
    assert_eq!(digest, digest_of(&body));
    assert!(digest.starts_with("SHA-256=") && digest.ends_with('='));
    let mtime = v["mtime"].as_str().unwrap();
    assert!(
        mtime.ends_with('Z') && mtime.contains('.'),
        "RFC 3339 nanos UTC: {mtime}"
    );
    assert!(v.get("deleted").is_none());

    // a new version replaces the meta (rollup) and purges the old chunks
    let info2 = within(store.put(name, &b"v2"[..])).await.unwrap();
    assert_ne!(info2.nuid, info.nuid);
    wait_messages(&js, "OBJ_wire", 2).await;
    let got = within(within(store.get(name)).await.unwrap().read_all())
        .await
        .unwrap();
    assert_eq!(&got[..], b"v2");
}

async fn write_by_hand(
    js: &Context,
    bucket: &str,
    name: &str,
    chunks: &[&[u8]],
    info: serde_json::Value,
) {
    for c in chunks {
        within(js.publish(format!("$O.{bucket}.C.HAND"), Bytes::copy_from_slice(c)))
            .await
            .unwrap();
    }
    let mut h = HeaderMap::new();
    h.insert("Nats-Rollup", "sub");
    within(js.publish_with(
        format!("$O.{bucket}.M.{}", URL_SAFE.encode(name)),
        info.to_string(),
        PublishOptions::default().headers(h),
    ))
    .await
    .unwrap();
}

#[actix_rt::test]
async fn a_corrupt_object_is_a_digest_mismatch() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "bad").await;
    // the meta claims other bytes than the chunks hold
    let meta = serde_json::json!({
        "name": "corrupt", "bucket": "bad", "nuid": "HAND", "size": 8, "chunks": 2,
        "mtime": "2024-03-01T10:00:00Z", "digest": digest_of(b"goodgood"),
    });
    write_by_hand(&js, "bad", "corrupt", &[b"good", b"evil"], meta).await;
    let mut reader = within(store.get("corrupt")).await.unwrap();
    // the first chunk comes, the last is held back and replaced by the error
    let first = within(reader.next_chunk()).await.unwrap().unwrap();
    assert_eq!(&first[..], b"good");
    let e = within(reader.next_chunk()).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    assert!(within(reader.next_chunk()).await.is_none());
    let e = within(within(store.get("corrupt")).await.unwrap().read_all())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    let mut out = Vec::new();
    let e = within(
        within(store.get("corrupt"))
            .await
            .unwrap()
            .read_to_end(&mut out),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);

    // a size that disagrees is a mismatch too
    let meta = serde_json::json!({
        "name": "short", "bucket": "bad", "nuid": "HAND2", "size": 100, "chunks": 1,
        "mtime": "2024-03-01T10:00:00Z", "digest": digest_of(b"x"),
    });
    within(js.publish("$O.bad.C.HAND2", "x")).await.unwrap();
    write_by_hand(&js, "bad", "short", &[], meta).await;
    let e = within(within(store.get("short")).await.unwrap().read_all())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);

    // a missing chunk: the push read stalls, the ordered pull after it
    // finds nothing more, and the read ends in a mismatch
    let meta = serde_json::json!({
        "name": "missing", "bucket": "bad", "nuid": "HAND3", "size": 2, "chunks": 2,
        "mtime": "2024-03-01T10:00:00Z", "digest": digest_of(b"ab"),
    });
    within(js.publish("$O.bad.C.HAND3", "a")).await.unwrap();
    write_by_hand(&js, "bad", "missing", &[], meta).await;
    let mut reader = within(store.get("missing")).await.unwrap();
    let e = within(reader.next_chunk()).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch);
    assert!(e.to_string().contains("1 chunks"), "{e}");
}

/// Yields `left` bytes, then an I/O error.
struct FailAfter {
    left: usize,
}

impl AsyncRead for FailAfter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let n = buf.remaining().min(self.left).min(10_000);
        buf.put_slice(&vec![7u8; n]);
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

#[actix_rt::test]
async fn failed_and_cancelled_puts_leave_no_chunks() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "tidy").await;
    within(store.put("keep", &b"kept"[..])).await.unwrap();
    assert_eq!(messages(&js, "OBJ_tidy").await, 2);

    // a reader that fails after 5 chunks: the put fails, its chunks go
    let meta = ObjectMeta::new("broken").chunk_size(64 * 1024);
    let e = within(store.put(
        meta,
        FailAfter {
            left: 5 * 64 * 1024 + 10,
        },
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        messages(&js, "OBJ_tidy").await,
        2,
        "the failed put's chunks were purged"
    );
    assert_eq!(
        within(store.info("broken")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );

    // a put that stalls after 16 chunks, dropped once they are stored
    let (_writer, stalled) = tokio::io::duplex(64);
    let body = data(16 * 64 * 1024);
    let reader = (&body[..]).chain(stalled);
    let meta = ObjectMeta::new("dropped").chunk_size(64 * 1024);
    let put = store.put(meta, reader);
    within(async {
        tokio::select! {
            r = put => panic!("the put cannot end: {r:?}"),
            () = wait_messages(&js, "OBJ_tidy", 18) => {}
        }
    })
    .await;
    // the put future is dropped: its chunks are purged in the background
    wait_messages(&js, "OBJ_tidy", 2).await;
    let kept = within(within(store.get("keep")).await.unwrap().read_all())
        .await
        .unwrap();
    assert_eq!(&kept[..], b"kept");
}

#[actix_rt::test]
async fn update_meta_renames_and_describes() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "meta").await;
    let first = within(store.put("draft.txt", &b"text"[..])).await.unwrap();
    within(store.put("taken.txt", &b"other"[..])).await.unwrap();
    let updated = within(
        store.update_meta(
            "draft.txt",
            ObjectMeta::new("final.txt")
                .description("v1")
                .metadata("owner", "ana"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.nuid.as_str()),
        ("final.txt", first.nuid.as_str())
    );
    let info = within(store.info("final.txt")).await.unwrap();
    assert_eq!(info.description.as_deref(), Some("v1"));
    assert_eq!(info.metadata.get("owner").map(String::as_str), Some("ana"));
    assert_eq!(
        (info.digest.as_str(), info.size),
        (first.digest.as_str(), 4)
    );
    assert_eq!(
        within(store.info("draft.txt")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );
    let got = within(within(store.get("final.txt")).await.unwrap().read_all())
        .await
        .unwrap();
    assert_eq!(&got[..], b"text");
    // in place: description only
    within(store.update_meta("final.txt", ObjectMeta::new("final.txt").description("v2")))
        .await
        .unwrap();
    assert_eq!(
        within(store.info("final.txt"))
            .await
            .unwrap()
            .description
            .as_deref(),
        Some("v2")
    );
    let e = within(store.update_meta("final.txt", ObjectMeta::new("taken.txt")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyExists);
    let e = within(store.update_meta("nothing", ObjectMeta::new("x")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ObjectNotFound);
}

#[actix_rt::test]
async fn links_to_objects_and_buckets() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "main").await;
    let other = bucket(&js, "archive").await;
    let target = within(other.put("2023.tar", &data(300_000)[..]))
        .await
        .unwrap();
    let local = within(store.put("local.txt", &b"local"[..])).await.unwrap();

    let link = within(store.add_link("latest", &target)).await.unwrap();
    assert!(link.is_link());
    let l = link.link().unwrap();
    assert_eq!(
        (l.bucket.as_str(), l.name.as_deref()),
        ("archive", Some("2023.tar"))
    );
    let via = within(store.get("latest")).await.unwrap();
    assert_eq!(via.info().name, "2023.tar");
    let got = within(via.read_all()).await.unwrap();
    assert!(got[..] == data(300_000)[..]);
    within(store.add_link("same-bucket", &local)).await.unwrap();
    let got = within(within(store.get("same-bucket")).await.unwrap().read_all())
        .await
        .unwrap();
    assert_eq!(&got[..], b"local");

    let blink = within(store.add_bucket_link("arch", &other)).await.unwrap();
    assert_eq!(blink.link().unwrap().name, None);
    assert_eq!(
        within(store.get("arch")).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let e = within(store.add_link("link-to-link", &link))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = within(store.add_link("local.txt", &target))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyExists);
    // the raw meta of a link follows ADR-20
    let raw = within(js.get_last_message(
        "OBJ_main",
        &format!("$O.main.M.{}", URL_SAFE.encode("arch")),
    ))
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
    assert_eq!(
        v["options"]["link"],
        serde_json::json!({"bucket": "archive"})
    );
}

async fn next(w: &mut nats_actix::jetstream::object::ObjectWatch) -> ObjectInfo {
    match within(w.next()).await.unwrap().unwrap() {
        WatchEvent::Info(i) => *i,
        WatchEvent::Ready => panic!("ready twice"),
    }
}

#[actix_rt::test]
async fn delete_list_and_watch() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "w").await;
    within(store.put("a", &data(200_000)[..])).await.unwrap();
    within(store.put("b", &b"bee"[..])).await.unwrap();
    let mut watch = within(store.watch()).await.unwrap();
    let mut initial = Vec::new();
    while let WatchEvent::Info(i) = within(watch.next()).await.unwrap().unwrap() {
        initial.push(i.name.clone());
    }
    assert_eq!(initial, vec!["a", "b"]);

    within(store.delete("a")).await.unwrap();
    assert_eq!(
        within(store.info("a")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );
    assert_eq!(
        within(store.get("a")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );
    assert_eq!(
        within(store.delete("a")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );
    // chunks gone: b's chunk and meta, a's delete marker
    wait_messages(&js, "OBJ_w", 3).await;
    within(store.put("c", &b"sea"[..])).await.unwrap();

    let deleted: ObjectInfo = next(&mut watch).await;
    assert!(deleted.deleted && deleted.name == "a" && deleted.size == 0);
    let put = next(&mut watch).await;
    assert_eq!((put.name.as_str(), put.size, put.deleted), ("c", 3, false));

    let names: Vec<String> = within(store.list())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["b", "c"]);
    let empty = bucket(&js, "empty").await;
    assert!(within(empty.list()).await.unwrap().is_empty());
}

#[actix_rt::test]
async fn async_nats_reads_ours_and_we_read_theirs() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "interop").await;
    let body = data(1_000_003);
    let ours = within(store.put(ObjectMeta::new("from-us").description("d"), &body[..]))
        .await
        .unwrap();

    let theirs_client = within(async_nats::connect(server.client_url()))
        .await
        .unwrap();
    let theirs = async_nats::jetstream::new(theirs_client);
    let their_store = within(theirs.get_object_store("interop")).await.unwrap();
    let mut obj = within(their_store.get("from-us")).await.unwrap();
    assert_eq!(obj.info().digest.as_deref(), Some(ours.digest.as_str()));
    assert_eq!(obj.info().size, body.len());
    let mut out = Vec::new();
    within(obj.read_to_end(&mut out)).await.unwrap();
    assert!(out == body, "async-nats reads our bytes");

    let body2 = data(700_001);
    let written = within(their_store.put("from-them", &mut &body2[..]))
        .await
        .unwrap();
    let info = within(store.info("from-them")).await.unwrap();
    assert_eq!(info.digest, written.digest.unwrap());
    assert_eq!(info.nuid, written.nuid);
    let got = within(within(store.get("from-them")).await.unwrap().read_all())
        .await
        .unwrap();
    assert!(got[..] == body2[..], "we read async-nats's bytes");
    // and their delete is a deleted object to us
    within(their_store.delete("from-them")).await.unwrap();
    assert_eq!(
        within(store.info("from-them")).await.unwrap_err().kind(),
        ErrorKind::ObjectNotFound
    );
    // our link reads through async-nats
    within(store.add_link("alias", &ours)).await.unwrap();
    let mut via = within(their_store.get("alias")).await.unwrap();
    let mut out = Vec::new();
    within(via.read_to_end(&mut out)).await.unwrap();
    assert!(out == body);

    // a bucket async-nats made, and its object, read here
    let made = within(
        theirs.create_object_store(async_nats::jetstream::object_store::Config {
            bucket: "made_by_them".to_string(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let empty: &[u8] = b"";
    within(made.put("empty", &mut &empty[..])).await.unwrap();
    within(made.put("data", &mut &body2[..])).await.unwrap();
    let ours_view = within(js.object_store("made_by_them")).await.unwrap();
    let names: Vec<String> = within(ours_view.list())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["empty", "data"]);
    let got = within(within(ours_view.get("empty")).await.unwrap().read_all())
        .await
        .unwrap();
    assert!(got.is_empty());
    let got = within(within(ours_view.get("data")).await.unwrap().read_all())
        .await
        .unwrap();
    assert!(got[..] == body2[..]);
}

#[actix_rt::test]
async fn a_watch_and_a_get_go_on_across_a_server_restart() {
    let mut server = NatsServer::with_jetstream();
    let client = within(Client::connect(
        ConnectOptions::new()
            .server(server.client_url())
            .reconnect_time_wait(Duration::from_millis(50))
            .max_reconnect_attempts(-1),
    ))
    .await
    .unwrap();
    let js = Context::new(client);
    let store = within(js.create_object_store(ObjectStoreConfig::new("durable")))
        .await
        .unwrap();
    within(store.put("before", &b"1"[..])).await.unwrap();
    let mut watch = within(store.watch()).await.unwrap();
    assert_eq!(next(&mut watch).await.name, "before");
    assert_eq!(
        within(watch.next()).await.unwrap().unwrap(),
        WatchEvent::Ready
    );
    server.kill();
    server.restart();
    let body = data(500_000);
    within(async {
        while store.put("after", &body[..]).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // the watch resumes after what it delivered: the new object, once
    let seen = loop {
        match within(watch.next()).await.expect("watch ended") {
            Ok(WatchEvent::Info(i)) => break *i,
            Ok(WatchEvent::Ready) => panic!("a second ready"),
            // reported, and the watch goes on
            Err(_) => {}
        }
    };
    assert_eq!((seen.name.as_str(), seen.size), ("after", 500_000));
    let got = within(within(store.get("after")).await.unwrap().read_all())
        .await
        .unwrap();
    assert!(got[..] == body[..]);
}

/// A store whose bucket was deleted after it was opened says so
/// (`BucketNotFound`), not "no responders" (nobody answers direct gets on
/// a stream that is gone).
#[actix_rt::test]
async fn a_deleted_bucket_is_bucket_not_found() {
    let server = NatsServer::with_jetstream();
    let js = js(&server).await;
    let store = bucket(&js, "gone").await;
    within(store.put("a", &b"x"[..])).await.unwrap();
    within(js.delete_object_store("gone")).await.unwrap();
    let e = within(store.info("a")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BucketNotFound, "{e}");
}
