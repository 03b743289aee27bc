//! The `micro` part of the CLI contract (`micro serve|ping|info|stats`)
//! and the Service API examples' self-tests.

mod support;
use support::cli::*;

use std::time::Instant;

use serde_json::Value;

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn micro_serve_echoes_fails_on_request_and_exits_after_count() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let mut svc = Running::spawn(&[
        "--json",
        "-s",
        &url,
        "micro",
        "serve",
        "calc",
        "--version",
        "1.0.0",
        "--description",
        "a calculator",
        "--metadata",
        "region:eu",
        "--endpoint",
        "add",
        "--endpoint",
        "sub=minus",
        "--group",
        "math",
        "--count",
        "3",
    ]);
    svc.wait_ready(deadline);

    let out = run_ok(&["--json", "-s", &url, "req", "math.add", "hello"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["payload"], "hello");
    let out = run_ok(&["--json", "-s", &url, "req", "math.minus", "fail"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["headers"]["Nats-Service-Error-Code"],
        serde_json::json!(["500"])
    );
    assert_eq!(
        v["headers"]["Nats-Service-Error"],
        serde_json::json!(["requested failure"])
    );
    // The service printed the two requests it answered.
    assert_eq!(svc.json_line(deadline)["subject"], "math.add");
    assert_eq!(svc.json_line(deadline)["subject"], "math.minus");

    let out = run_ok(&[
        "--json",
        "-s",
        &url,
        "micro",
        "stats",
        "calc",
        "--wait-ms",
        "1000",
    ]);
    let l = lines(&out);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        keys_in_order(&l[0]),
        [
            "type",
            "name",
            "id",
            "version",
            "metadata",
            "endpoints",
            "started"
        ]
    );
    let v: Value = serde_json::from_str(&l[0]).unwrap();
    assert_eq!(v["type"], "io.nats.micro.v1.stats_response");
    assert_eq!(v["metadata"], serde_json::json!({"region": "eu"}));
    let eps = v["endpoints"].as_array().unwrap();
    assert_eq!(eps[0]["subject"], "math.add");
    assert_eq!(eps[0]["num_requests"], 1);
    assert_eq!(eps[1]["name"], "sub");
    assert_eq!(eps[1]["subject"], "math.minus");
    assert_eq!(eps[1]["num_errors"], 1);
    assert_eq!(eps[1]["last_error"], "500:requested failure");

    let out = run_ok(&[
        "--json",
        "-s",
        &url,
        "micro",
        "info",
        "calc",
        "--wait-ms",
        "1000",
    ]);
    let l = lines(&out);
    assert_eq!(l.len(), 1);
    assert_eq!(
        keys_in_order(&l[0]),
        [
            "type",
            "name",
            "id",
            "version",
            "metadata",
            "description",
            "endpoints"
        ]
    );
    let v: Value = serde_json::from_str(&l[0]).unwrap();
    assert_eq!(v["description"], "a calculator");
    assert_eq!(v["endpoints"][0]["queue_group"], "q");

    // The third request ends it.
    run_ok(&["-s", &url, "req", "math.add", "x"]);
    assert_eq!(svc.json_line(deadline)["payload"], "x");
    svc.wait_success(deadline);
}

#[test]
fn micro_ping_finds_all_by_name_and_by_id_and_serve_drains_on_sigterm() {
    let (_server, url) = setup();
    let deadline = Instant::now() + TIMEOUT;
    let serve = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--json",
            "-s",
            &url,
            "micro",
            "serve",
            name,
            "--version",
            "0.1.0",
            "--endpoint",
            "e",
        ];
        args.extend_from_slice(extra);
        Running::spawn(&args)
    };
    let mut a1 = serve("alpha", &[]);
    let mut a2 = serve("alpha", &["--queue", "other"]);
    let mut b = serve("beta", &["--no-queue"]);
    for s in [&a1, &a2, &b] {
        s.wait_ready(deadline);
    }
    let ping = |args: &[&str]| {
        let mut all = vec!["--json", "-s", &url, "micro", "ping"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--wait-ms", "1000"]);
        let out = run_ok(&all);
        lines(&out)
            .iter()
            .map(|l| {
                assert_eq!(
                    keys_in_order(l),
                    ["type", "name", "id", "version", "metadata"]
                );
                serde_json::from_str::<Value>(l).unwrap()
            })
            .collect::<Vec<Value>>()
    };
    let all = ping(&[]);
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .all(|v| v["type"] == "io.nats.micro.v1.ping_response")
    );
    let alpha = ping(&["alpha"]);
    assert_eq!(alpha.len(), 2);
    let id = alpha[0]["id"].as_str().unwrap().to_string();
    let one = ping(&["alpha", &id]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], id.as_str());
    assert!(ping(&["nobody"]).is_empty());

    // The queue choices show in INFO.
    let out = run_ok(&["--json", "-s", &url, "micro", "info", "--wait-ms", "1000"]);
    let mut queues: Vec<String> = json_lines(&out)
        .iter()
        .map(|v| {
            v["endpoints"][0]["queue_group"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    queues.sort();
    assert_eq!(queues, ["", "other", "q"]);

    // Without --json: one line per instance for people.
    let out = run_ok(&["-s", &url, "micro", "ping", "beta", "--wait-ms", "1000"]);
    let l = lines(&out);
    assert_eq!(l.len(), 1);
    assert!(l[0].starts_with("beta "), "{l:?}");

    // SIGTERM drains and exits 0.
    for s in [&mut a1, &mut a2, &mut b] {
        s.signal("TERM");
        s.wait_success(deadline);
    }
    assert!(ping(&[]).is_empty());
}

#[test]
fn micro_serve_rejects_bad_names_and_versions_and_fails_on_a_lost_connection() {
    let (mut server, url) = setup();
    let out = run(&[
        "-s",
        &url,
        "micro",
        "serve",
        "bad.name",
        "--version",
        "1.0.0",
        "--endpoint",
        "e",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("error: invalid argument"),
        "{}",
        stderr_of(&out)
    );
    let out = run(&[
        "-s",
        &url,
        "micro",
        "serve",
        "ok",
        "--version",
        "1.0",
        "--endpoint",
        "e",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("version"), "{}", stderr_of(&out));
    let out = run(&["-s", &url, "micro", "serve", "ok", "--version", "1.0.0"]);
    assert_eq!(out.status.code(), Some(2), "an endpoint is required");
    let out = run(&["-s", &url, "micro", "ping", "--wait-ms", "100"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());

    let deadline = Instant::now() + TIMEOUT;
    let mut svc = Running::spawn(&[
        "--json",
        "-s",
        &url,
        "--no-reconnect",
        "micro",
        "serve",
        "lost",
        "--version",
        "1.0.0",
        "--endpoint",
        "e",
        "--count",
        "5",
    ]);
    svc.wait_ready(deadline);
    server.stop();
    let status = svc.wait_exit(deadline);
    assert_eq!(status.code(), Some(1), "a lost connection is not a success");
}

#[test]
fn service_actors_example_self_test() {
    let out = self_test("service_actors");
    assert!(out.iter().any(|l| l == "self-test ok"), "{out:?}");
}

#[test]
fn service_discovery_example_self_test() {
    let out = self_test("service_discovery");
    assert!(out.iter().any(|l| l == "self-test ok"), "{out:?}");
}
