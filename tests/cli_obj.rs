//! The `obj` commands of the CLI example against a real nats-server: the
//! documented output shapes, streaming files in and out (stdin and stdout
//! included), typed errors, a digest mismatch that leaves no file behind,
//! watch; and the `obj_files` example's self-test.

mod support;
use support::cli::*;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::Value;
use sha2::{Digest, Sha256};

const INFO_KEYS: [&str; 9] = [
    "bucket",
    "name",
    "size",
    "chunks",
    "digest",
    "nuid",
    "mtime",
    "description",
    "deleted",
];

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn digest_of(d: &[u8]) -> String {
    format!("SHA-256={}", URL_SAFE.encode(Sha256::digest(d)))
}

fn first_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .expect("a line")
        .to_string()
}

/// Runs the CLI with `input` on its stdin.
fn run_with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(cli())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the nats example");
    let mut stdin = child.stdin.take().expect("stdin");
    // A usage error exits before reading: its stdin is then a broken pipe.
    if let Err(e) = stdin.write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    drop(stdin);
    child.wait_with_output().expect("wait")
}

#[test]
fn obj_commands_print_the_documented_shapes() {
    let (_server, url) = setup_js();
    let dir = tempdir();
    let s = ["-s", url.as_str(), "--json"];
    let obj = |args: &[&str]| run(&[&s[..], &["obj"], args].concat());
    let obj_ok = |args: &[&str]| run_ok(&[&s[..], &["obj"], args].concat());

    let added = obj_ok(&[
        "add",
        "files",
        "--storage",
        "memory",
        "--description",
        "docs",
    ]);
    assert_eq!(
        keys_in_order(&first_line(&added)),
        [
            "bucket",
            "description",
            "ttl_ms",
            "storage",
            "replicas",
            "sealed",
            "size",
            "backing_store"
        ]
    );
    let st = &json_lines(&added)[0];
    assert_eq!(
        (&st["bucket"], &st["storage"], &st["backing_store"]),
        (
            &Value::from("files"),
            &Value::from("memory"),
            &Value::from("JetStream")
        )
    );
    assert_eq!(
        json_lines(&obj_ok(&["status", "files"]))[0]["description"],
        "docs"
    );

    // put a file (named after it), with a custom chunk size
    let body = data(300_000);
    let file = dir.join("report.bin");
    std::fs::write(&file, &body).unwrap();
    let put = obj_ok(&[
        "put",
        "files",
        file.to_str().unwrap(),
        "--chunk-size",
        "65536",
        "--description",
        "q3",
    ]);
    assert_eq!(keys_in_order(&first_line(&put)), INFO_KEYS);
    let p = &json_lines(&put)[0];
    assert_eq!(
        (&p["name"], &p["size"], &p["chunks"]),
        (
            &Value::from("report.bin"),
            &Value::from(300_000),
            &Value::from(5)
        )
    );
    assert_eq!(p["digest"], digest_of(&body));
    assert_eq!(
        (&p["description"], &p["deleted"]),
        (&Value::from("q3"), &Value::from(false))
    );
    let info = obj_ok(&["info", "files", "report.bin"]);
    assert_eq!(keys_in_order(&first_line(&info)), INFO_KEYS);
    assert_eq!(json_lines(&info)[0]["nuid"], p["nuid"]);

    // stdin needs --name (a usage error), then works
    let e = run_with_stdin(&[&s[..], &["obj", "put", "files", "-"]].concat(), b"x");
    assert_eq!(e.status.code(), Some(2));
    let piped = run_with_stdin(
        &[&s[..], &["obj", "put", "files", "-", "--name", "notes.txt"]].concat(),
        b"from stdin",
    );
    assert!(piped.status.success(), "{}", stderr_of(&piped));
    assert_eq!(json_lines(&piped)[0]["size"], 10);

    // get to a file and to stdout (raw bytes, --json or not)
    let out_file = dir.join("copy.bin");
    obj_ok(&[
        "get",
        "files",
        "report.bin",
        "--output",
        out_file.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&out_file).unwrap() == body);
    let raw = obj_ok(&["get", "files", "notes.txt"]);
    assert_eq!(raw.stdout, b"from stdin");

    // ls: one info line per object
    let ls = json_lines(&obj_ok(&["ls", "files"]));
    let names: Vec<&str> = ls.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["report.bin", "notes.txt"]);

    // link, within the bucket and across buckets, read through
    obj_ok(&["add", "other", "--storage", "memory"]);
    // (small objects only to stdout: `run` reads the pipe after the exit)
    let link = obj_ok(&["link", "other", "latest", "files", "notes.txt"]);
    assert_eq!(json_lines(&link)[0]["name"], "latest");
    let via = obj_ok(&["get", "other", "latest"]);
    assert_eq!(via.stdout, b"from stdin");

    // del, then typed errors
    let del = obj_ok(&["del", "files", "notes.txt"]);
    assert_eq!(json_lines(&del)[0], serde_json::json!({"deleted": true}));
    let e = obj(&["info", "files", "notes.txt"]);
    assert_eq!(e.status.code(), Some(1));
    assert!(
        stderr_of(&e).starts_with("error: object not found"),
        "{}",
        stderr_of(&e)
    );
    let e = obj(&["status", "nope"]);
    assert!(
        stderr_of(&e).starts_with("error: bucket not found"),
        "{}",
        stderr_of(&e)
    );
    let rm = obj_ok(&["rm", "other"]);
    assert_eq!(json_lines(&rm)[0], serde_json::json!({"deleted": true}));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn obj_get_with_a_digest_mismatch_leaves_no_file() {
    let (_server, url) = setup_js();
    let dir = tempdir();
    let s = ["-s", url.as_str(), "--json"];
    run_ok(&[&s[..], &["obj", "add", "bad"]].concat());
    // two chunks and a meta whose digest is of other bytes, by hand
    for chunk in ["good", "evil"] {
        run_ok(&[&s[..], &["js", "pub", "$O.bad.C.HAND", chunk]].concat());
    }
    let meta = serde_json::json!({
        "name": "corrupt", "bucket": "bad", "nuid": "HAND", "size": 8, "chunks": 2,
        "mtime": "2024-03-01T10:00:00Z", "digest": digest_of(b"goodgood"),
    });
    let subject = format!("$O.bad.M.{}", URL_SAFE.encode("corrupt"));
    run_ok(
        &[
            &s[..],
            &[
                "js",
                "pub",
                &subject,
                &meta.to_string(),
                "-H",
                "Nats-Rollup:sub",
            ],
        ]
        .concat(),
    );
    let target = dir.join("out.bin");
    let e = run(&[
        &s[..],
        &[
            "obj",
            "get",
            "bad",
            "corrupt",
            "--output",
            target.to_str().unwrap(),
        ],
    ]
    .concat());
    assert_eq!(e.status.code(), Some(1));
    assert!(
        stderr_of(&e).starts_with("error: digest mismatch"),
        "{}",
        stderr_of(&e)
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "no partial file: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn obj_watch_prints_infos_ready_then_changes() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    let obj_ok = |args: &[&str]| run_ok(&[&s[..], &["obj"], args].concat());
    obj_ok(&["add", "w", "--storage", "memory"]);
    let dir = tempdir();
    let file = dir.join("a.txt");
    std::fs::write(&file, b"A").unwrap();
    obj_ok(&["put", "w", file.to_str().unwrap()]);
    let deadline = Instant::now() + TIMEOUT;
    let mut watch = Running::spawn(&[&s[..], &["obj", "watch", "w", "--count", "3"]].concat());
    let first = watch.json_line(deadline);
    assert_eq!(
        (&first["name"], &first["size"]),
        (&Value::from("a.txt"), &Value::from(1))
    );
    watch.wait_ready(deadline);
    std::fs::write(&file, b"AB").unwrap();
    obj_ok(&["put", "w", file.to_str().unwrap()]);
    let second = watch.json_line(deadline);
    assert_eq!(
        (&second["name"], &second["size"]),
        (&Value::from("a.txt"), &Value::from(2))
    );
    obj_ok(&["del", "w", "a.txt"]);
    let third = watch.json_line(deadline);
    assert_eq!(
        (&third["name"], &third["deleted"]),
        (&Value::from("a.txt"), &Value::from(true))
    );
    watch.wait_success(deadline);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn obj_files_example_streams_a_file_in_and_out() {
    let out = self_test("obj_files");
    assert!(out.iter().any(|l| l.contains("digest verified")), "{out:?}");
    assert!(out.last().is_some_and(|l| l.starts_with("ok: ")), "{out:?}");
}

/// A fresh directory for this test's files.
fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cli_obj-{}-{}", std::process::id(), nanos()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
