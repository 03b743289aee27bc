//! Integration tests of the `nats` CLI example (`examples/nats.rs`) against a
//! real nats-server (the helpers are in `tests/support/cli.rs`).

mod support;

use support::cli::*;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::NatsServer;

#[test]
fn sub_receives_what_pub_sends() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["sub", "cli.test.*", "--json", "--count", "2", "-s", &url]);
    sub.wait_ready(deadline);

    run_ok(&["-s", &url, "pub", "cli.test.one", "first"]);
    run_ok(&["pub", "cli.test.two", "second", "--server", &url]);

    let a = sub.json_line(deadline);
    let b = sub.json_line(deadline);
    assert_eq!(a["subject"], "cli.test.one");
    assert_eq!(a["payload"], "first");
    assert_eq!(a["reply"], Value::Null);
    assert_eq!(a["headers"], serde_json::json!({}));
    assert_eq!(b["subject"], "cli.test.two");
    assert_eq!(b["payload"], "second");
    sub.wait_success(deadline);
}

#[test]
fn req_gets_the_reply() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut replier = Running::spawn(&[
        "--json", "-s", &url, "reply", "cli.svc", "pong", "--count", "1",
    ]);
    replier.wait_ready(deadline);

    let out = run_ok(&[
        "req",
        "cli.svc",
        "ping",
        "--json",
        "-s",
        &url,
        "--timeout-ms",
        "5000",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("req prints JSON");
    assert_eq!(v["payload"], "pong");
    replier.wait_success(deadline);
}

#[test]
fn req_without_responders_fails() {
    let (_server, url) = setup();
    let out = run(&["-s", &url, "req", "cli.nobody", "x"]);
    assert!(!out.status.success(), "req should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no responders"), "stderr: {stderr:?}");
}

#[test]
fn pub_headers_reach_sub() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["-s", &url, "--json", "sub", "cli.hdr", "--count", "1"]);
    sub.wait_ready(deadline);

    run_ok(&["-s", &url, "pub", "cli.hdr", "with headers", "-H", "A:1"]);
    let v = sub.json_line(deadline);
    assert_eq!(v["payload"], "with headers");
    assert_eq!(v["headers"], serde_json::json!({"A": ["1"]}));
    sub.wait_success(deadline);
}

#[test]
fn bench_pub_reports_a_rate() {
    let (_server, url) = setup();
    let out = run_ok(&[
        "-s", &url, "bench", "pub", "--size", "16", "--count", "1000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("a result line");
    let v: Value = serde_json::from_str(line).expect("JSON result");
    assert_eq!(v["mode"], "pub");
    assert_eq!(v["size"], 16);
    assert_eq!(v["count"], 1000);
    assert!(v["msgs_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["mb_per_s"].as_f64().is_some(), "{v}");
    assert!(v.get("p50_us").is_none(), "no latencies for pub: {v}");
}

#[test]
fn usage_errors_exit_2() {
    cli();
    for args in [
        &["pub"][..],
        &["nope"],
        &["sub", "x", "--count", "many"],
        &["pub", "x", "y", "--bogus"],
        &["pub", "x", "y", "--js-domain", "a", "--js-api-prefix", "b"],
        &["bench", "sideways", "--size", "1", "--count", "1"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "`nats {}`", args.join(" "));
        assert!(!out.stderr.is_empty(), "`nats {}` says why", args.join(" "));
    }
}

#[test]
fn max_reconnects_accepts_minus_one() {
    let (_server, url) = setup();
    run_ok(&["--max-reconnects", "-1", "-s", &url, "pub", "cli.neg", "x"]);
    run_ok(&["-s", &url, "pub", "cli.neg", "x", "--max-reconnects", "-1"]);
    run_ok(&[
        "-s",
        &url,
        "--reconnect-wait-ms",
        "100",
        "--connect-timeout-ms",
        "2000",
        "--name",
        "cli-test",
        "--wait-on-first-connect",
        "pub",
        "cli.neg",
        "x",
        "--no-reconnect",
    ]);
}

#[test]
fn runtime_errors_exit_1() {
    cli();
    // a first connect that fails on every server exits 1 at once
    let url = format!("nats://127.0.0.1:{}", support::free_port());
    let other = format!("nats://127.0.0.1:{}", support::free_port());
    let servers = format!("{url},{other}");
    let start = Instant::now();
    let out = run(&[
        "-s",
        &servers,
        "sub",
        "cli.x",
        "--connect-timeout-ms",
        "2000",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");

    // an option the library rejects
    let out = run(&["-s", &url, "--connect-timeout-ms", "0", "pub", "cli.x", "y"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: invalid argument"),
        "stderr: {stderr:?}"
    );
}

#[test]
fn events_go_to_stderr_and_stdout_has_only_messages() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&[
        "--events", "--json", "-s", &url, "sub", "cli.ev", "--count", "1",
    ]);
    let ev: Value = serde_json::from_str(&sub.err_line(deadline)).expect("an event line");
    assert_eq!(ev, serde_json::json!({"event": "connected", "server": url}));
    sub.wait_ready(deadline);
    run_ok(&["-s", &url, "pub", "cli.ev", "hello"]);
    let m = sub.json_line(deadline);
    assert_eq!(m["payload"], "hello");
    sub.wait_success(deadline);
    assert!(sub.rest(deadline).is_empty(), "stdout has only messages");
    let closed: Value = serde_json::from_str(&sub.err_line(deadline)).expect("an event line");
    assert_eq!(closed["event"], "closed", "{closed}");
}

#[test]
fn sub_fails_when_the_connection_is_lost_before_count() {
    let (mut server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&[
        "--json",
        "--no-reconnect",
        "-s",
        &url,
        "sub",
        "cli.loss",
        "--count",
        "3",
    ]);
    sub.wait_ready(deadline);
    run_ok(&["-s", &url, "pub", "cli.loss", "one"]);
    assert_eq!(sub.json_line(deadline)["payload"], "one");
    server.stop();
    let status = sub.wait_exit(deadline);
    assert!(!status.success(), "a loss must not exit 0: {status}");
    let err = sub.err_line(deadline);
    assert!(err.starts_with("error: "), "the reason on stderr: {err:?}");
}

#[test]
fn reply_fails_when_the_connection_is_lost() {
    let (mut server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut replier = Running::spawn(&[
        "--json",
        "--no-reconnect",
        "--events",
        "-s",
        &url,
        "reply",
        "cli.rloss",
        "pong",
    ]);
    replier.wait_ready(deadline);
    server.stop();
    let status = replier.wait_exit(deadline);
    assert!(!status.success(), "a loss must not exit 0: {status}");
    let err: Vec<String> = (0..4).map(|_| replier.err_line(deadline)).collect();
    let events: Vec<Value> = err[..3]
        .iter()
        .map(|l| serde_json::from_str(l).expect("an event line"))
        .collect();
    assert_eq!(events[0]["event"], "connected");
    assert_eq!(events[1]["event"], "disconnected");
    assert_eq!(events[1]["server"], url.as_str());
    assert_eq!(events[2]["event"], "closed");
    assert!(events[2]["reason"].is_string(), "{}", events[2]);
    assert!(
        err[3].starts_with("error: "),
        "the reason on stderr: {:?}",
        err[3]
    );
}

#[test]
fn pub_count_fills_the_count_template() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["--json", "-s", &url, "sub", "cli.tpl", "--count", "3"]);
    sub.wait_ready(deadline);
    run_ok(&[
        "-s",
        &url,
        "pub",
        "cli.tpl",
        "{{Count}}",
        "--count",
        "3",
        "--interval-ms",
        "10",
    ]);
    let payloads: Vec<Value> = (0..3)
        .map(|_| sub.json_line(deadline)["payload"].clone())
        .collect();
    assert_eq!(payloads, ["1", "2", "3"]);
    sub.wait_success(deadline);
}

#[test]
fn bench_output_shape_and_subjects() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;

    // default subject bench.<mode>
    let mut sub = Running::spawn(&["--json", "-s", &url, "sub", "bench.pub", "--count", "1"]);
    sub.wait_ready(deadline);
    run_ok(&["-s", &url, "bench", "pub", "--size", "8", "--count", "10"]);
    assert_eq!(sub.json_line(deadline)["subject"], "bench.pub");
    sub.wait_success(deadline);

    // --subject names one
    let mut sub = Running::spawn(&["--json", "-s", &url, "sub", "cli.b", "--count", "1"]);
    sub.wait_ready(deadline);
    let out = run_ok(&[
        "-s",
        &url,
        "bench",
        "pubsub",
        "--size",
        "8",
        "--count",
        "100",
        "--subject",
        "cli.b",
    ]);
    assert_eq!(sub.json_line(deadline)["subject"], "cli.b");
    sub.wait_success(deadline);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("a result line");
    assert_eq!(
        keys_in_order(line),
        ["mode", "size", "count", "msgs_per_s", "mb_per_s"]
    );
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["mode"], "pubsub");
    assert_eq!(v["count"], 100);

    let out = run_ok(&[
        "--json", "-s", &url, "bench", "req", "--size", "32", "--count", "50",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().expect("a result line");
    assert_eq!(
        keys_in_order(line),
        [
            "mode",
            "size",
            "count",
            "msgs_per_s",
            "mb_per_s",
            "p50_us",
            "p90_us",
            "p99_us"
        ]
    );
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["mode"], "req");
    assert_eq!(v["size"], 32);
    let (p50, p99) = (v["p50_us"].as_f64().unwrap(), v["p99_us"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{v}");
}

#[test]
fn sigterm_drains_sub_and_exits_0() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut sub = Running::spawn(&["--json", "-s", &url, "sub", "cli.term", "--count", "10"]);
    sub.wait_ready(deadline);
    run_ok(&["-s", &url, "pub", "cli.term", "{{Count}}", "--count", "2"]);
    assert_eq!(sub.json_line(deadline)["payload"], "1");
    assert_eq!(sub.json_line(deadline)["payload"], "2");
    sub.signal("TERM");
    sub.wait_success(deadline);
    assert!(sub.rest(deadline).is_empty());
}

#[test]
fn sigint_drains_reply_and_exits_0() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut replier = Running::spawn(&["--json", "-s", &url, "reply", "cli.int", "pong"]);
    replier.wait_ready(deadline);
    let out = run_ok(&["-s", &url, "req", "cli.int", "ping"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pong");
    assert_eq!(replier.json_line(deadline)["payload"], "ping");
    replier.signal("INT");
    replier.wait_success(deadline);
}

#[test]
fn pub_denied_by_permissions_exits_1() {
    cli();
    let server = NatsServer::with_config(
        r#"authorization { users = [ { user: a, password: b, permissions: { publish: { deny: ["cli.secret"] } } } ] }"#,
    );
    let url = server.client_url();
    run_ok(&[
        "-s",
        &url,
        "--user",
        "a",
        "--password",
        "b",
        "pub",
        "cli.open",
        "x",
    ]);
    let out = run(&[
        "-s",
        &url,
        "--user",
        "a",
        "--password",
        "b",
        "pub",
        "cli.secret",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");
    assert!(stderr.contains("cli.secret"), "stderr: {stderr:?}");
    let out = run(&[
        "-s",
        &url,
        "--user",
        "a",
        "--password",
        "wrong",
        "pub",
        "cli.open",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn trace_goes_to_stderr_without_secrets() {
    cli();
    let server = NatsServer::with_config(
        r#"authorization { users = [ { user: tracer, password: "s3cret-pw" } ] }"#,
    );
    let url = server.client_url();
    let out = run_ok(&[
        "--trace",
        "-s",
        &url,
        "--user",
        "tracer",
        "--password",
        "s3cret-pw",
        "--json",
        "pub",
        "cli.trace",
        "x",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONNECT"), "stderr: {stderr}");
    assert!(!stderr.contains("s3cret-pw"), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `examples/supervised.rs --self-test`: actors keep working through a
/// server crash and restart; every tick arrives once, in order.
#[test]
fn supervised_example_survives_a_restart() {
    let mut child = Command::new(example("supervised"))
        .arg("--self-test")
        .env("NATS_SERVER", support::server_binary())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the supervised example");
    let out = line_channel(child.stdout.take().expect("stdout"), false);
    let err = line_channel(child.stderr.take().expect("stderr"), false);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the example hung");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The channels close at the end of the pipes, which the exit ends.
    let stdout: Vec<String> = out.iter().collect();
    let stderr: Vec<String> = err.iter().collect();
    assert!(status.success(), "{stdout:?} {stderr:?}");
    assert!(
        stdout.iter().any(|l| l.starts_with("ok: 20 ticks")),
        "{stdout:?}"
    );
    assert!(
        stderr.iter().any(|l| l.contains("reconnected to")),
        "{stderr:?}"
    );
}

/// `--nkey FILE` and `--creds FILE` authenticate; refused credentials
/// print `error: authorization violation: ...` and exit 1.
#[test]
fn nkey_and_creds_flags() {
    let user = nkeys::KeyPair::new_user();
    let server = NatsServer::with_config(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}",
        user.public_key()
    ));
    let url = server.client_url();
    let seed_file = server.dir().join("user.nk");
    std::fs::write(&seed_file, user.seed().unwrap()).unwrap();
    let seed_path = seed_file.to_string_lossy().to_string();
    run_ok(&["-s", &url, "--nkey", &seed_path, "pub", "cli.auth", "x"]);

    let wrong = server.dir().join("wrong.nk");
    std::fs::write(&wrong, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let out = run(&[
        "-s",
        &url,
        "--nkey",
        &wrong.to_string_lossy(),
        "pub",
        "cli.auth",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: authorization violation: "),
        "stderr: {stderr:?}"
    );

    let op = support::jwt::Operator::new();
    let jwt_server = NatsServer::with_config(&op.server_config());
    let creds = jwt_server.dir().join("u.creds");
    std::fs::write(&creds, op.creds(&user)).unwrap();
    run_ok(&[
        "-s",
        &jwt_server.client_url(),
        "--creds",
        &creds.to_string_lossy(),
        "pub",
        "cli.auth",
        "x",
    ]);
}

// ---------------------------------------------------------------------------
// JetStream
// ---------------------------------------------------------------------------

/// `stream add|info|ls|get|purge|rm` print the documented shapes.
#[test]
fn js_stream_add_info_ls_get_purge_rm() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    let out = run_ok(
        &[
            &s[..],
            &[
                "stream",
                "add",
                "ORDERS",
                "--subjects",
                "orders.>,o2.*",
                "--storage",
                "memory",
                "--max-msgs",
                "100",
            ],
        ]
        .concat(),
    );
    let info = &json_lines(&out)[0];
    assert_eq!(info["config"]["name"], "ORDERS");
    assert_eq!(
        info["config"]["subjects"],
        serde_json::json!(["orders.>", "o2.*"])
    );
    assert_eq!(info["config"]["storage"], "memory");
    assert_eq!(info["config"]["max_msgs"], 100);
    assert_eq!(info["state"]["messages"], 0);
    assert!(
        info.get("created").is_some(),
        "the server's StreamInfo as it is: {info}"
    );

    run_ok(&[&s[..], &["js", "pub", "orders.a", "one", "-H", "X-Id:1"]].concat());
    run_ok(&[&s[..], &["js", "pub", "orders.b", "two"]].concat());
    let info = &json_lines(&run_ok(&[&s[..], &["stream", "info", "ORDERS"]].concat()))[0];
    assert_eq!(info["state"]["messages"], 2);
    assert_eq!(info["state"]["last_seq"], 2);

    let ls = json_lines(&run_ok(&[&s[..], &["stream", "ls"]].concat()));
    assert_eq!(ls, vec![serde_json::json!({"streams": ["ORDERS"]})]);

    let got = run_ok(&[&s[..], &["stream", "get", "ORDERS", "1"]].concat());
    let line = String::from_utf8_lossy(&got.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        keys_in_order(&line),
        ["subject", "seq", "headers", "payload", "time"]
    );
    let m: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (m["subject"].as_str(), m["seq"].as_u64()),
        (Some("orders.a"), Some(1))
    );
    assert_eq!(m["headers"], serde_json::json!({"X-Id": ["1"]}));
    assert_eq!(m["payload"], "one");
    let last = &json_lines(&run_ok(
        &[
            &s[..],
            &["stream", "get", "ORDERS", "--last-for", "orders.b"],
        ]
        .concat(),
    ))[0];
    assert_eq!(last["seq"], 2);

    let missing = run(&[&s[..], &["stream", "info", "NOPE"]].concat());
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr_of(&missing).starts_with("error: stream not found: "),
        "{}",
        stderr_of(&missing)
    );

    run_ok(&[&s[..], &["stream", "purge", "ORDERS"]].concat());
    let info = &json_lines(&run_ok(&[&s[..], &["stream", "info", "ORDERS"]].concat()))[0];
    assert_eq!(info["state"]["messages"], 0);

    let rm = json_lines(&run_ok(&[&s[..], &["stream", "rm", "ORDERS"]].concat()));
    assert_eq!(rm, vec![serde_json::json!({"deleted": true})]);
    let ls = json_lines(&run_ok(&[&s[..], &["stream", "ls"]].concat()));
    assert_eq!(ls, vec![serde_json::json!({"streams": []})]);
}

/// `js pub` prints `{"stream","seq","duplicate"}` per ack; a repeated
/// `--msg-id` is a duplicate; a failed expectation is a typed error.
#[test]
fn js_pub_acks_dedupe_and_expectations() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    run_ok(&[&s[..], &["stream", "add", "EV", "--subjects", "ev.>"]].concat());

    let out = run_ok(
        &[
            &s[..],
            &[
                "js",
                "pub",
                "ev.x",
                "m{{Count}}",
                "--count",
                "2",
                "--msg-id",
                "id-{{Count}}",
            ],
        ]
        .concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let first = text.lines().next().unwrap();
    assert_eq!(keys_in_order(first), ["stream", "seq", "duplicate"]);
    assert_eq!(
        json_lines(&out),
        vec![
            serde_json::json!({"stream": "EV", "seq": 1, "duplicate": false}),
            serde_json::json!({"stream": "EV", "seq": 2, "duplicate": false}),
        ]
    );
    let dup = json_lines(&run_ok(
        &[&s[..], &["js", "pub", "ev.x", "again", "--msg-id", "id-2"]].concat(),
    ));
    assert_eq!(
        dup,
        vec![serde_json::json!({"stream": "EV", "seq": 2, "duplicate": true})]
    );

    let wrong = run(&[
        &s[..],
        &["js", "pub", "ev.x", "late", "--expect-last-seq", "1"],
    ]
    .concat());
    assert_eq!(wrong.status.code(), Some(1));
    assert!(wrong.stdout.is_empty());
    assert!(
        stderr_of(&wrong).starts_with("error: wrong last sequence: "),
        "{}",
        stderr_of(&wrong)
    );
    let ok = json_lines(&run_ok(
        &[
            &s[..],
            &["js", "pub", "ev.x", "next", "--expect-last-seq", "2"],
        ]
        .concat(),
    ));
    assert_eq!(ok[0]["seq"], 3);

    // --async: every ack, in publish order
    let out = run_ok(
        &[
            &s[..],
            &["js", "pub", "ev.y", "a{{Count}}", "--count", "5", "--async"],
        ]
        .concat(),
    );
    let seqs: Vec<u64> = json_lines(&out)
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5, 6, 7, 8]);

    let none = run(&[
        &s[..],
        &["js", "pub", "nostream.x", "x", "--timeout-ms", "500"],
    ]
    .concat());
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr_of(&none).starts_with("error: no responders: "),
        "{}",
        stderr_of(&none)
    );
}

/// `consumer add|info|ls|next|sub|ordered|rm` on a pull consumer.
#[test]
fn js_consumer_add_info_next_sub() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    run_ok(&[&s[..], &["stream", "add", "Q", "--subjects", "q.*"]].concat());
    for i in 1..=5 {
        run_ok(&[&s[..], &["js", "pub", "q.a", &format!("m{i}")]].concat());
    }
    let info = &json_lines(&run_ok(
        &[
            &s[..],
            &[
                "consumer",
                "add",
                "Q",
                "w",
                "--pull",
                "--ack-wait-ms",
                "30000",
            ],
        ]
        .concat(),
    ))[0];
    assert_eq!(info["name"], "w");
    assert_eq!(info["stream_name"], "Q");
    assert_eq!(info["config"]["ack_policy"], "explicit");
    let info = &json_lines(&run_ok(&[&s[..], &["consumer", "info", "Q", "w"]].concat()))[0];
    assert_eq!(info["num_pending"], 5);
    let ls = json_lines(&run_ok(&[&s[..], &["consumer", "ls", "Q"]].concat()));
    assert_eq!(ls, vec![serde_json::json!({"consumers": ["w"]})]);

    // next: two messages, in the JetStream message shape, acked
    let out = run_ok(&[&s[..], &["consumer", "next", "Q", "w", "--count", "2"]].concat());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        keys_in_order(text.lines().next().unwrap()),
        [
            "subject",
            "reply",
            "headers",
            "payload",
            "stream",
            "stream_seq",
            "consumer_seq",
            "delivered"
        ]
    );
    let got = json_lines(&out);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0]["payload"].as_str(), got[0]["stream_seq"].as_u64()),
        (Some("m1"), Some(1))
    );
    assert_eq!(
        (got[1]["stream"].as_str(), got[1]["consumer_seq"].as_u64()),
        (Some("Q"), Some(2))
    );
    assert_eq!(got[1]["delivered"], 1);
    let info = &json_lines(&run_ok(&[&s[..], &["consumer", "info", "Q", "w"]].concat()))[0];
    assert_eq!(info["num_ack_pending"], 0, "{info}");
    assert_eq!(info["num_pending"], 3, "{info}");

    // sub: ready, then --count messages, then exit 0
    let deadline = Instant::now() + TIMEOUT;
    let mut sub =
        Running::spawn(&[&s[..], &["consumer", "sub", "Q", "w", "--count", "4"]].concat());
    sub.wait_ready(deadline);
    let seqs: Vec<u64> = (0..3)
        .map(|_| sub.json_line(deadline)["stream_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    run_ok(&["-s", url.as_str(), "js", "pub", "q.b", "live"]);
    let live = sub.json_line(deadline);
    assert_eq!(
        (live["payload"].as_str(), live["stream_seq"].as_u64()),
        (Some("live"), Some(6))
    );
    sub.wait_success(deadline);

    // nothing left: --no-wait exits 0 at once; without it, a timeout
    let out = run_ok(&[&s[..], &["consumer", "next", "Q", "w", "--no-wait"]].concat());
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&[
        &s[..],
        &["consumer", "next", "Q", "w", "--expires-ms", "300"],
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("error: timeout: "),
        "{}",
        stderr_of(&out)
    );

    // ordered: the whole stream once, in order
    let out = run_ok(&[&s[..], &["consumer", "ordered", "Q", "--count", "6"]].concat());
    let lines = json_lines(&out);
    assert_eq!(lines[0], serde_json::json!({"ready": true}));
    let seqs: Vec<u64> = lines[1..]
        .iter()
        .map(|v| v["stream_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);

    let rm = json_lines(&run_ok(&[&s[..], &["consumer", "rm", "Q", "w"]].concat()));
    assert_eq!(rm, vec![serde_json::json!({"deleted": true})]);
    let gone = run(&[&s[..], &["consumer", "info", "Q", "w"]].concat());
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr_of(&gone).starts_with("error: consumer not found: "),
        "{}",
        stderr_of(&gone)
    );
}

/// `consumer sub` on a push consumer, and SIGTERM drains it (exit 0).
#[test]
fn js_consumer_sub_push_and_sigterm() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    run_ok(&[&s[..], &["stream", "add", "P", "--subjects", "p.*"]].concat());
    run_ok(
        &[
            &s[..],
            &[
                "consumer",
                "add",
                "P",
                "push",
                "--deliver",
                "deliver.push",
                "--heartbeat-ms",
                "1000",
                "--flow-control",
            ],
        ]
        .concat(),
    );
    run_ok(&[&s[..], &["js", "pub", "p.a", "x{{Count}}", "--count", "3"]].concat());
    let deadline = Instant::now() + TIMEOUT;
    let mut sub =
        Running::spawn(&[&s[..], &["consumer", "sub", "P", "push", "--count", "3"]].concat());
    sub.wait_ready(deadline);
    let payloads: Vec<String> = (0..3)
        .map(|_| {
            sub.json_line(deadline)["payload"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(payloads, ["x1", "x2", "x3"]);
    sub.wait_success(deadline);

    let mut sub = Running::spawn(&[&s[..], &["consumer", "sub", "P", "push"]].concat());
    sub.wait_ready(deadline);
    sub.signal("TERM");
    sub.wait_success(deadline);
}

/// `examples/js_streams.rs --self-test`: create, info, get, purge, delete.
#[test]
fn js_streams_example_self_test() {
    let out = self_test("js_streams");
    assert!(
        out.iter().any(|l| l.starts_with("ok: stream created")),
        "{out:?}"
    );
}

/// `examples/js_publish.rs --self-test`: acks, dedupe, expectations.
#[test]
fn js_publish_example_self_test() {
    let out = self_test("js_publish");
    assert!(out.iter().any(|l| l.starts_with("ok: acks")), "{out:?}");
}

/// `examples/js_workers.rs --self-test`: every job done once by the pool.
#[test]
fn js_workers_example_self_test() {
    let out = self_test("js_workers");
    assert!(
        out.iter().any(|l| l.starts_with("ok: 40 jobs done once")),
        "{out:?}"
    );
}

/// `examples/js_ordered.rs --self-test`: in order across a lost consumer.
#[test]
fn js_ordered_example_self_test() {
    let out = self_test("js_ordered");
    assert!(
        out.iter()
            .any(|l| l.starts_with("ok: 12 messages once each")),
        "{out:?}"
    );
}

/// Every `kv` command prints the documented shapes and typed errors.
#[test]
fn kv_commands_print_the_documented_shapes() {
    let (_server, url) = setup_js();
    let s = ["-s", url.as_str(), "--json"];
    let kv = |args: &[&str]| run(&[&s[..], &["kv"], args].concat());
    let kv_ok = |args: &[&str]| run_ok(&[&s[..], &["kv"], args].concat());
    let added = kv_ok(&["add", "cfg", "--history", "5", "--ttl-ms", "60000"]);
    let st = json_lines(&added);
    assert_eq!(
        keys_in_order(
            String::from_utf8_lossy(&added.stdout)
                .lines()
                .next()
                .expect("a line")
        ),
        [
            "bucket",
            "values",
            "history",
            "ttl_ms",
            "bytes",
            "backing_store"
        ]
    );
    assert_eq!(
        (
            &st[0]["bucket"],
            &st[0]["history"],
            &st[0]["ttl_ms"],
            &st[0]["backing_store"]
        ),
        (
            &Value::from("cfg"),
            &Value::from(5),
            &Value::from(60000),
            &Value::from("JetStream")
        )
    );
    let r1 = json_lines(&kv_ok(&["put", "cfg", "color", "red"]))[0]["revision"].clone();
    assert_eq!(r1, Value::from(1));
    let out = kv_ok(&["get", "cfg", "color"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        keys_in_order(&line),
        [
            "bucket",
            "key",
            "value",
            "revision",
            "operation",
            "created",
            "delta"
        ]
    );
    let e: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&e["value"], &e["operation"]),
        (&Value::from("red"), &Value::from("PUT"))
    );
    assert!(e["created"].as_str().unwrap().ends_with('Z'));

    // Typed errors, exit 1.
    let out = kv(&["get", "cfg", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("error: key not found: "),
        "{}",
        stderr_of(&out)
    );
    let out = kv(&["create", "cfg", "color", "blue"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("error: key exists: "),
        "{}",
        stderr_of(&out)
    );
    let out = kv(&["update", "cfg", "color", "blue", "--revision", "7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("error: wrong last sequence: "),
        "{}",
        stderr_of(&out)
    );
    let r2 = json_lines(&kv_ok(&[
        "update",
        "cfg",
        "color",
        "blue",
        "--revision",
        "1",
    ]))[0]["revision"]
        .clone();
    assert_eq!(r2, Value::from(2));
    let old = json_lines(&kv_ok(&["get", "cfg", "color", "--revision", "1"]));
    assert_eq!(old[0]["value"], "red");
    kv_ok(&["create", "cfg", "size", "L"]);
    kv_ok(&["del", "cfg", "size"]);
    let out = kv(&["get", "cfg", "size"]);
    assert!(stderr_of(&out).starts_with("error: key not found: "));
    assert_eq!(
        json_lines(&kv_ok(&["keys", "cfg"]))[0],
        serde_json::json!({"keys": ["color"]})
    );
    let hist = json_lines(&kv_ok(&["history", "cfg", "size"]));
    let ops: Vec<&str> = hist
        .iter()
        .map(|h| h["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["PUT", "DEL"]);
    kv_ok(&["purge", "cfg", "color"]);
    let hist = json_lines(&kv_ok(&["history", "cfg", "color"]));
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0]["operation"], "PURGE");
    assert_eq!(
        json_lines(&kv_ok(&["ls"]))[0],
        serde_json::json!({"buckets": ["cfg"]})
    );
    kv_ok(&["rm", "cfg"]);
    let out = kv(&["status", "cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).starts_with("error: bucket not found: "));
    // A bad key is a usage of the store, typed.
    kv_ok(&["add", "b2"]);
    let out = kv(&["put", "b2", "a..b", "x"]);
    assert!(stderr_of(&out).starts_with("error: invalid key: "));
}

/// `kv watch`: initial values (markers included), ready, then updates;
/// it resumes across a server restart without repeating or skipping.
#[test]
fn kv_watch_prints_initial_ready_updates_and_survives_a_restart() {
    cli();
    let mut server = NatsServer::with_jetstream();
    let url = server.client_url();
    let s = ["-s", url.as_str(), "--json"];
    let kv_ok = |args: &[&str]| run_ok(&[&s[..], &["kv"], args].concat());
    kv_ok(&["add", "w", "--history", "10"]);
    kv_ok(&["put", "w", "a", "1"]);
    kv_ok(&["put", "w", "b", "1"]);
    kv_ok(&["del", "w", "b"]);
    let deadline = Instant::now() + TIMEOUT * 2;
    let mut watch = Running::spawn(
        &[
            &s[..],
            &[
                "--max-reconnects",
                "-1",
                "--reconnect-wait-ms",
                "50",
                "kv",
                "watch",
                "w",
                "--count",
                "5",
            ],
        ]
        .concat(),
    );
    let first = watch.json_line(deadline);
    assert_eq!(
        (&first["key"], &first["value"]),
        (&Value::from("a"), &Value::from("1"))
    );
    let second = watch.json_line(deadline);
    assert_eq!(
        (&second["key"], &second["operation"]),
        (&Value::from("b"), &Value::from("DEL"))
    );
    watch.wait_ready(deadline);
    kv_ok(&["put", "w", "a", "2"]);
    assert_eq!(watch.json_line(deadline)["value"], "2");
    server.kill();
    server.restart();
    // Writes after the restart, while the watch recovers.
    for v in ["3", "4"] {
        loop {
            let out = run(&[&s[..], &["kv", "put", "w", "a", v]].concat());
            if out.status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not come back");
            thread::sleep(Duration::from_millis(100));
        }
    }
    let rest: Vec<Value> = (0..2).map(|_| watch.json_line(deadline)).collect();
    let values: Vec<&str> = rest.iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["3", "4"], "no repeat, no skip");
    watch.wait_success(deadline);
}

/// `examples/kv_config.rs --self-test`: actors follow their part of a
/// configuration bucket.
#[test]
fn kv_config_example_self_test() {
    let out = self_test("kv_config");
    assert!(
        out.iter()
            .any(|l| l == "[limits] limits.rps = 750 (revision 8)"),
        "{out:?}"
    );
    assert!(out.last().is_some_and(|l| l.starts_with("ok: ")), "{out:?}");
}
