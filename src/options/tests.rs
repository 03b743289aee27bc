//! Tests of the options: address parsing, the builder, validation.

use super::*;

fn addr(s: &str) -> ServerAddr {
    match ServerAddr::parse(s) {
        Ok(a) => a,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn reject(s: &str) -> String {
    match ServerAddr::parse(s) {
        Ok(a) => panic!("{s:?} should be rejected, got {a:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{s:?}");
            e.to_string()
        }
    }
}

fn hp(a: &ServerAddr) -> (&str, u16, bool) {
    (a.host(), a.port(), a.tls_required())
}

#[test]
fn parses_schemes() {
    assert_eq!(hp(&addr("nats://host:4223")), ("host", 4223, false));
    assert_eq!(hp(&addr("tls://host:4443")), ("host", 4443, true));
    assert_eq!(hp(&addr("NATS://host")), ("host", 4222, false));
    assert_eq!(hp(&addr("tls://host")), ("host", 4222, true));
}

#[test]
fn parses_bare_forms() {
    assert_eq!(hp(&addr("host")), ("host", 4222, false));
    assert_eq!(hp(&addr("host:1234")), ("host", 1234, false));
    assert_eq!(hp(&addr("127.0.0.1")), ("127.0.0.1", 4222, false));
    assert_eq!(hp(&addr("127.0.0.1:65535")), ("127.0.0.1", 65535, false));
    assert_eq!(hp(&addr("demo.nats.io")), ("demo.nats.io", 4222, false));
}

#[test]
fn parses_ipv6() {
    assert_eq!(hp(&addr("[::1]:4222")), ("::1", 4222, false));
    assert_eq!(hp(&addr("[::1]:5000")), ("::1", 5000, false));
    assert_eq!(hp(&addr("[::1]")), ("::1", 4222, false));
    assert_eq!(hp(&addr("::1")), ("::1", 4222, false));
    assert_eq!(hp(&addr("fe80::1:2")), ("fe80::1:2", 4222, false));
    assert_eq!(
        hp(&addr("nats://[2001:db8::1]:7")),
        ("2001:db8::1", 7, false)
    );
    assert_eq!(hp(&addr("tls://[::1]")), ("::1", 4222, true));
    assert!(addr("::1").is_ip());
    assert_eq!(addr("::1").socket_addr_string(), "[::1]:4222");
    assert_eq!(addr("[::1]:9").to_string(), "nats://[::1]:9");
}

#[test]
fn parses_user_info() {
    let a = addr("nats://user:pass@host:4333");
    assert_eq!(a.user(), Some("user"));
    assert_eq!(a.pass(), Some("pass"));
    assert_eq!(a.token(), None);
    assert_eq!(hp(&a), ("host", 4333, false));
    assert!(a.has_credentials());

    let a = addr("nats://s3cr3t@host");
    assert_eq!(a.token(), Some("s3cr3t"));
    assert_eq!(a.user(), None);
    assert_eq!(a.pass(), None);
    assert_eq!(hp(&a), ("host", 4222, false));

    let a = addr("nats://a%40b:p%3Aw%2Fd%25@host");
    assert_eq!(a.user(), Some("a@b"));
    assert_eq!(a.pass(), Some("p:w/d%"));

    // Unencoded '@' in the password: the last '@' ends the user info.
    let a = addr("nats://u:p@ss@host");
    assert_eq!(a.pass(), Some("p@ss"));
    assert_eq!(a.host(), "host");

    let a = addr("user:@host");
    assert_eq!(a.user(), Some("user"));
    assert_eq!(a.pass(), Some(""));

    let a = addr("tls://tok@[::1]:4443");
    assert_eq!(a.token(), Some("tok"));
    assert_eq!(hp(&a), ("::1", 4443, true));

    let a = addr("nats://%E2%9C%93@host");
    assert_eq!(a.token(), Some("✓"));
}

#[test]
fn trims_whitespace_and_trailing_slash() {
    assert_eq!(hp(&addr("  nats://host:4222/  ")), ("host", 4222, false));
    assert_eq!(hp(&addr("host/")), ("host", 4222, false));
    assert_eq!(hp(&addr("\thost:1\n")), ("host", 1, false));
    assert_eq!(hp(&addr("[::1]/")), ("::1", 4222, false));
}

#[test]
fn rejects_bad_addresses() {
    assert!(reject("").contains("empty server address"));
    assert!(reject("   ").contains("empty server address"));
    assert!(reject("ws://host").contains("websocket not supported"));
    assert!(reject("wss://host:443").contains("websocket not supported"));
    assert!(reject("http://host").contains("unknown scheme 'http'"));
    assert!(reject("://host").contains("unknown scheme"));
    assert!(reject("host:abc").contains("not a number"));
    assert!(reject("host:-1").contains("not a number"));
    assert!(reject("host:+1").contains("not a number"));
    assert!(reject("host:0").contains("1..=65535"));
    assert!(reject("host:65536").contains("1..=65535"));
    assert!(reject("host:99999999999999999999").contains("1..=65535"));
    assert!(reject("host:").contains("empty port"));
    assert!(reject("[::1]:").contains("empty port"));
    assert!(reject("[::1]:0").contains("1..=65535"));
    assert!(reject("nats://").contains("empty host"));
    assert!(reject("nats://:4222").contains("empty host"));
    assert!(reject(":4222").contains("empty host"));
    assert!(reject("nats://user:pass@").contains("empty host"));
    assert!(reject("[]:4222").contains("empty host"));
    assert!(reject("[::1").contains("missing ']'"));
    assert!(reject("[::1]x").contains("after IPv6"));
    assert!(reject("[nothost]:1").contains("invalid IPv6"));
    assert!(reject(":::::z").contains("invalid IPv6"));
    assert!(reject("nats://host:4222/path").contains("unexpected path"));
    assert!(reject("nats://host/path/").contains("unexpected path"));
    assert!(reject("nats://host?x=1").contains("unexpected path"));
    assert!(reject("nats://ho st").contains("invalid character"));
    assert!(reject("@host").contains("empty user info"));
    assert!(reject(":pass@host").contains("empty user name"));
    assert!(reject("nats://u:p%zz@host").contains("percent-encoding"));
    assert!(reject("nats://u:p%4@host").contains("percent-encoding"));
    assert!(reject("nats://%ff@host").contains("UTF-8"));
}

// Decisions taken when moving to the `url` crate: one test each.

#[test]
fn url_user_info_reserved_chars_must_be_encoded() {
    // As nats.go's url.Parse: '/', '?' and '#' end the authority.
    for s in [
        "nats://u:p/w@host",
        "nats://u:p?w@host",
        "nats://u:p#w@host",
    ] {
        let msg = reject(s);
        assert!(msg.contains("percent-encode"), "{msg}");
        assert!(!msg.contains("p/w") && !msg.contains("p?w"), "{msg}");
    }
    assert_eq!(addr("nats://u:p%2Fw%3F%23@host").pass(), Some("p/w?#"));
}

#[test]
fn url_user_info_decoding_is_strict() {
    // `url` leaves bad escapes alone; we reject them.
    assert!(reject("nats://u%2@host").contains("percent-encoding"));
    assert!(reject("nats://%C3%28:x@host").contains("UTF-8"));
    // Characters `url` encodes come back decoded.
    let a = addr("nats://u s:p w\"<>@host");
    assert_eq!((a.user(), a.pass()), (Some("u s"), Some("p w\"<>")));
    assert_eq!(addr("nats://✓:✓@host").pass(), Some("✓"));
    // An empty password stays an empty password (`url` drops it).
    assert_eq!(addr("nats://user:@host").pass(), Some(""));
    assert!(reject("nats://:@host").contains("empty user name"));
}

#[test]
fn url_schemes() {
    // No WebSocket transport: ws and wss are refused, not downgraded.
    assert!(reject("WSS://host").contains("websocket not supported"));
    assert!(reject("https://host").contains("unknown scheme"));
    // "nats:host" has no "://": host "nats", port "host".
    assert!(reject("nats:host").contains("not a number"));
    // A missing scheme means nats://, the scheme is case-insensitive.
    assert_eq!(hp(&addr("Tls://host")), ("host", 4222, true));
    assert_eq!(addr("host:5").to_string(), "nats://host:5");
}

#[test]
fn url_empty_port_and_port_zero_rejected() {
    // `url` reads "host:" as the default port and accepts port 0.
    assert!(reject("nats://host:").contains("empty port"));
    assert!(reject("nats://host:0").contains("1..=65535"));
    assert!(reject("nats://host:00").contains("1..=65535"));
    assert_eq!(addr("nats://host:04222").port(), 4222);
}

#[test]
fn url_inner_control_chars_rejected() {
    // `url` would silently drop these and connect to "host".
    assert!(reject("nats://ho\tst").contains("invalid character"));
    assert!(reject("nats://ho\nst:4222").contains("invalid character"));
    assert!(reject("nats://u:p\rw@host").contains("invalid character"));
    assert!(!reject("nats://u:p\rw@host").contains("p\rw"));
}

#[test]
fn url_host_characters() {
    // No percent-encoded host names; `url`'s forbidden host characters
    // are refused; non-ASCII names are kept verbatim (no IDNA, as the
    // schemes are not special ones).
    assert!(reject("nats://h%41st").contains("invalid character '%'"));
    for s in ["h<st", "h>st", "h^st", "h|st", "h\\st"] {
        assert!(reject(s).contains("invalid character"), "{s}");
    }
    assert_eq!(addr("nats://hôst:1").host(), "hôst");
    assert_eq!(addr("Demo.NATS.io").host(), "Demo.NATS.io");
}

#[test]
fn url_ipv6_is_canonical() {
    assert_eq!(addr("[0:0::1]").host(), "::1");
    assert_eq!(addr("2001:DB8:0::1").host(), "2001:db8::1");
    assert!(reject("[fe80::1%25eth0]").contains("invalid character '%'"));
}

#[test]
fn url_empty_query_or_fragment_rejected() {
    assert!(reject("nats://host?").contains("unexpected path"));
    assert!(reject("nats://host:1#").contains("unexpected path"));
    assert!(reject("host/./").contains("unexpected path"));
}

#[test]
fn errors_never_echo_credentials() {
    for s in [
        "nats://alice:hunter2@host:abc",
        "nats://alice:hunter2@",
        "nats://hunter2@[x]",
    ] {
        let msg = reject(s);
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}

#[test]
fn display_and_debug_redact() {
    let a = addr("tls://alice:hunter2@host:1");
    assert_eq!(a.to_string(), "tls://host:1");
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("alice"));
    let a = addr("nats://t0k3n@host");
    assert_eq!(a.to_string(), "nats://host:4222");
    assert!(!format!("{a:?}").contains("t0k3n"));
}

#[test]
fn from_str_and_accessors() {
    let a: ServerAddr = "nats://10.0.0.1:5".parse().expect("parses");
    assert!(a.is_ip());
    assert!(!a.has_credentials());
    assert_eq!(a.socket_addr_string(), "10.0.0.1:5");
    assert!(!addr("localhost").is_ip());
    assert!("ws://x".parse::<ServerAddr>().is_err());
}

#[test]
fn parse_servers_lists() {
    let list = parse_servers("nats://a:1, tls://b:2 ,c,,").expect("parses");
    let got: Vec<_> = list.iter().map(hp).collect();
    assert_eq!(got, [("a", 1, false), ("b", 2, true), ("c", 4222, false)]);
    assert_eq!(
        parse_servers("").map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert!(parse_servers(",").is_err());
    assert!(parse_servers("a,ws://b").is_err());
}

#[test]
fn defaults_match_the_table() {
    let o = ConnectOptions::new();
    assert!(o.servers.is_empty());
    assert!(o.server_error.is_none());
    assert_eq!(o.port, 4222);
    assert_eq!(o.name, None);
    assert!(!o.verbose);
    assert!(!o.pedantic);
    assert!(!o.no_echo);
    assert!(!o.no_randomize);
    assert!(!o.no_resolve);
    assert!(!o.debug);
    assert!(!o.ignore_cluster_updates);
    assert!(!o.ignore_auth_error_abort);
    assert_eq!(o.inbox_prefix, "_INBOX");
    assert_eq!(o.max_ping_out, 2);
    assert_eq!(o.ping_interval, Duration::from_millis(120_000));
    assert!(o.reconnect);
    assert_eq!(o.max_reconnect_attempts, Some(10));
    assert_eq!(o.reconnect_time_wait, Duration::from_millis(2000));
    assert_eq!(o.reconnect_jitter, Duration::from_millis(100));
    assert_eq!(o.reconnect_jitter_tls, Duration::from_millis(1000));
    assert!(o.reconnect_delay_handler.is_none());
    assert_eq!(o.connection_timeout, Duration::from_millis(20_000));
    assert!(!o.wait_on_first_connect);
    assert_eq!((o.user, o.pass, o.token), (None, None, None));
    assert!(o.auth.is_none());
    assert!(!o.tls_required && !o.tls.set);
    assert_eq!(o.tls.ca_file, None);
    assert_eq!((o.tls.cert_file, o.tls.key_file), (None, None));
    assert!(!o.tls.handshake_first);
    assert_eq!(o.reconnect_buffer_size, 8 * 1024 * 1024);
    assert_eq!(o.pending_msgs_limit, 524_288);
    assert_eq!(o.pending_bytes_limit, 64 * 1024 * 1024);
    assert_eq!(o.request_timeout, Duration::from_secs(1));
    assert_eq!(o.write_buffer_limit, 8 * 1024 * 1024);
    assert_eq!(o.max_control_line, 64 * 1024);
    assert_eq!(o.max_payload_ceiling, 64 * 1024 * 1024);
    assert_eq!(o.flush_watermark, 64 * 1024);
    assert!(ConnectOptions::default().validate().is_ok());
    let servers = ConnectOptions::default().servers_or_default();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].to_string(), "nats://127.0.0.1:4222");
}

#[test]
fn every_setter_changes_its_field() {
    let o = ConnectOptions::new()
        .servers(["nats://a:1"])
        .server("b:2")
        .port(5000)
        .name("n")
        .verbose(true)
        .pedantic(true)
        .no_echo(true)
        .no_randomize(true)
        .no_resolve(true)
        .debug(true)
        .ignore_cluster_updates(true)
        .ignore_auth_error_abort(true)
        .inbox_prefix("_MY.INBOX")
        .max_ping_out(5)
        .ping_interval(Duration::from_secs(7))
        .reconnect(false)
        .max_reconnect_attempts(3)
        .reconnect_time_wait(Duration::from_millis(11))
        .reconnect_jitter(Duration::from_millis(12))
        .reconnect_jitter_tls(Duration::from_millis(13))
        .reconnect_delay_handler(|n| Duration::from_millis(n as u64 * 10))
        .connection_timeout(Duration::from_secs(3))
        .wait_on_first_connect(true)
        .user("u")
        .pass("p")
        .token("t")
        .credentials_file("/x.creds")
        .tls_required(true)
        .tls_ca_file("/ca.pem")
        .tls_client_cert("/cert.pem", "/key.pem")
        .tls_handshake_first(true)
        .reconnect_buffer_size(0)
        .pending_msgs_limit(10)
        .pending_bytes_limit(20)
        .request_timeout(Duration::from_secs(9))
        .write_buffer_limit(30)
        .max_control_line(40)
        .max_payload_ceiling(50)
        .flush_watermark(60);
    let hosts: Vec<_> = o.server_addrs().iter().map(hp).collect();
    assert_eq!(hosts, [("a", 1, false), ("b", 2, false)]);
    assert_eq!(o.port, 5000);
    assert_eq!(o.name.as_deref(), Some("n"));
    assert!(o.verbose && o.pedantic && o.no_echo && o.no_randomize);
    assert!(o.no_resolve && o.debug);
    assert!(o.ignore_cluster_updates && o.ignore_auth_error_abort);
    assert_eq!(o.inbox_prefix, "_MY.INBOX");
    assert_eq!(o.max_ping_out, 5);
    assert_eq!(o.ping_interval, Duration::from_secs(7));
    assert!(!o.reconnect);
    assert_eq!(o.max_reconnect_attempts, Some(3));
    assert_eq!(o.reconnect_time_wait, Duration::from_millis(11));
    assert_eq!(o.reconnect_jitter, Duration::from_millis(12));
    assert_eq!(o.reconnect_jitter_tls, Duration::from_millis(13));
    let handler = o.reconnect_delay_handler.as_ref().expect("set");
    assert_eq!(handler(4), Duration::from_millis(40));
    assert_eq!(o.connection_timeout, Duration::from_secs(3));
    assert!(o.wait_on_first_connect);
    assert_eq!(o.user.as_deref(), Some("u"));
    assert_eq!(o.pass.as_deref(), Some("p"));
    assert_eq!(o.token.as_deref(), Some("t"));
    assert!(format!("{:?}", o.auth).contains("CredsFile(/x.creds)"));
    assert!(o.tls_required && o.tls.handshake_first);
    assert_eq!(o.tls.ca_file, Some(PathBuf::from("/ca.pem")));
    assert_eq!(o.tls.cert_file, Some(PathBuf::from("/cert.pem")));
    assert_eq!(o.tls.key_file, Some(PathBuf::from("/key.pem")));
    assert_eq!(o.reconnect_buffer_size, 0);
    assert_eq!(o.pending_msgs_limit, 10);
    assert_eq!(o.pending_bytes_limit, 20);
    assert_eq!(o.request_timeout, Duration::from_secs(9));
    assert_eq!(o.write_buffer_limit, 30);
    assert_eq!(o.max_control_line, 40);
    assert_eq!(o.max_payload_ceiling, 50);
    assert_eq!(o.flush_watermark, 60);
    // Every auth setter at once is ambiguous.
    let err = o.validate().unwrap_err();
    assert!(err.to_string().contains("one authentication mode"), "{err}");

    // Clones share the handler.
    let c = o.clone();
    assert_eq!(c.servers, o.servers);
    assert!(c.reconnect_delay_handler.is_some());
}

#[test]
fn max_reconnect_attempts_negative_is_unlimited() {
    let o = ConnectOptions::new().max_reconnect_attempts(-1);
    assert_eq!(o.max_reconnect_attempts, None);
    let o = ConnectOptions::new().max_reconnect_attempts(i64::MIN);
    assert_eq!(o.max_reconnect_attempts, None);
    let o = ConnectOptions::new().max_reconnect_attempts(0);
    assert_eq!(o.max_reconnect_attempts, Some(0));
}

#[test]
fn servers_are_comma_separated_and_replace_or_append() {
    let o = ConnectOptions::new().servers(["a:1,b:2", "tls://c"]);
    let hosts: Vec<_> = o.server_addrs().iter().map(hp).collect();
    assert_eq!(hosts, [("a", 1, false), ("b", 2, false), ("c", 4222, true)]);
    let o = o.server("d, e:5");
    assert_eq!(o.server_addrs().len(), 5);
    let o = o.servers(["z"]);
    assert_eq!(o.server_addrs().len(), 1);
    assert_eq!(o.servers_or_default(), o.server_addrs());
    let o = ConnectOptions::new()
        .servers(Vec::<String>::new())
        .port(4333);
    assert!(o.server_addrs().is_empty());
    assert_eq!(o.servers_or_default()[0].port(), 4333);
}

fn validate_err(o: ConnectOptions) -> String {
    match o.validate() {
        Ok(()) => panic!("should fail: {o:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            e.to_string()
        }
    }
}

#[test]
fn validate_reports_deferred_server_errors() {
    let msg = validate_err(ConnectOptions::new().server("host:0"));
    assert!(msg.contains("invalid server address"), "{msg}");
    assert!(msg.contains("1..=65535"), "{msg}");
    // The first error wins, good entries are still kept.
    let o = ConnectOptions::new()
        .server("ok:1")
        .server("ws://x")
        .server("http://y");
    assert_eq!(o.server_addrs().len(), 1);
    let msg = validate_err(o.clone());
    assert!(msg.contains("websocket"), "{msg}");
    // Replacing the list drops the error.
    assert!(o.servers(["fine"]).validate().is_ok());
    let msg = validate_err(ConnectOptions::new().server(""));
    assert!(msg.contains("empty server address"), "{msg}");
    let msg = validate_err(ConnectOptions::new().servers(["a", "b:x"]));
    assert!(msg.contains("not a number"), "{msg}");
    let msg = validate_err(ConnectOptions::new().server("nats://u:hunter2@h:x"));
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn validate_catches_each_bad_option() {
    let cases: Vec<(ConnectOptions, &str)> = vec![
        (ConnectOptions::new().port(0), "port must not be 0"),
        (
            ConnectOptions::new().inbox_prefix(""),
            "inbox_prefix must not be empty",
        ),
        (
            ConnectOptions::new().inbox_prefix("_INBOX.*"),
            "inbox_prefix '_INBOX.*'",
        ),
        (
            ConnectOptions::new().inbox_prefix("a.>"),
            "inbox_prefix 'a.>'",
        ),
        (
            ConnectOptions::new().inbox_prefix("a b"),
            "inbox_prefix 'a b'",
        ),
        (
            ConnectOptions::new().inbox_prefix("a..b"),
            "inbox_prefix 'a..b'",
        ),
        (
            ConnectOptions::new().inbox_prefix("a."),
            "inbox_prefix 'a.'",
        ),
        (
            ConnectOptions::new().ping_interval(Duration::ZERO),
            "ping_interval must be greater than zero",
        ),
        (
            ConnectOptions::new().max_ping_out(0),
            "max_ping_out must be at least 1",
        ),
        (
            ConnectOptions::new().connection_timeout(Duration::ZERO),
            "connection_timeout must be greater than zero",
        ),
        (
            ConnectOptions::new().request_timeout(Duration::ZERO),
            "request_timeout must be greater than zero",
        ),
        (
            ConnectOptions::new().pending_msgs_limit(0),
            "pending_msgs_limit must be greater than zero",
        ),
        (
            ConnectOptions::new().pending_bytes_limit(0),
            "pending_bytes_limit must be greater than zero",
        ),
        (
            ConnectOptions::new().write_buffer_limit(0),
            "write_buffer_limit must be greater than zero",
        ),
        (
            ConnectOptions::new().max_control_line(0),
            "max_control_line must be greater than zero",
        ),
        (
            ConnectOptions::new().max_payload_ceiling(0),
            "max_payload_ceiling must be greater than zero",
        ),
    ];
    for (o, want) in cases {
        let msg = validate_err(o);
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
    // Port 0 is fine when servers are given.
    assert!(ConnectOptions::new().port(0).server("h").validate().is_ok());
    assert!(
        ConnectOptions::new()
            .inbox_prefix("_X.y")
            .validate()
            .is_ok()
    );
}

#[test]
fn debug_redacts_secrets() {
    let o = ConnectOptions::new()
        .server("nats://alice:srvpass@h")
        .server("nats://srvtoken@h2")
        .user("bob")
        .pass("optpass")
        .token("opttoken")
        .nkey("SUAseed")
        .reconnect_delay_handler(|_| Duration::ZERO);
    let dbg = format!("{o:?}");
    for secret in ["srvpass", "srvtoken", "optpass", "opttoken", "SUAseed"] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
    assert!(dbg.contains("bob") && dbg.contains("<redacted>"));
    assert!(dbg.contains("<fn>"));
}

#[test]
fn connect_info_from_options() {
    let o = ConnectOptions::new()
        .name("svc")
        .verbose(true)
        .pedantic(true)
        .no_echo(true)
        .user("u")
        .pass("p");
    let info = o.connect_info(&addr("host"), None).unwrap();
    assert!(info.verbose && info.pedantic);
    assert!(!info.echo);
    assert!(info.headers && info.no_responders);
    assert!(!info.tls_required);
    assert_eq!(info.name.as_deref(), Some("svc"));
    assert_eq!(info.user.as_deref(), Some("u"));
    assert_eq!(info.pass.as_deref(), Some("p"));
    assert_eq!(info.auth_token, None);
    let token = ConnectOptions::new().token("t");
    let info = token.connect_info(&addr("host"), None).unwrap();
    assert_eq!(info.auth_token.as_deref(), Some("t"));
    assert_eq!((info.user, info.pass), (None, None));
    assert_eq!(info.lang, "rust");
    assert_eq!(info.protocol, 1);

    let info = ConnectOptions::new()
        .connect_info(&addr("tls://host"), None)
        .unwrap();
    assert!(info.echo && info.tls_required);
    assert_eq!((info.user, info.pass, info.auth_token), (None, None, None));
    let info = ConnectOptions::new()
        .tls_required(true)
        .connect_info(&addr("host"), None)
        .unwrap();
    assert!(info.tls_required);
}

#[test]
fn connect_info_url_credentials_win() {
    let o = ConnectOptions::new().user("u").pass("p").token("t");
    let info = o
        .connect_info(&addr("nats://url-user:url-pass@host"), None)
        .unwrap();
    assert_eq!(info.user.as_deref(), Some("url-user"));
    assert_eq!(info.pass.as_deref(), Some("url-pass"));
    assert_eq!(info.auth_token, None);

    let info = o
        .connect_info(&addr("nats://url-token@host"), None)
        .unwrap();
    assert_eq!(info.user, None);
    assert_eq!(info.pass, None);
    assert_eq!(info.auth_token.as_deref(), Some("url-token"));
}

#[test]
fn tls_options_imply_tls_and_validate() {
    assert!(ConnectOptions::new().tls(TlsOptions::new()).tls_wanted());
    assert!(ConnectOptions::new().tls_ca_file("/ca.pem").tls_wanted());
    assert!(ConnectOptions::new().tls_handshake_first(true).tls_wanted());
    assert!(
        !ConnectOptions::new()
            .tls_handshake_first(false)
            .tls_wanted()
    );
    let ok = ConnectOptions::new().tls(
        TlsOptions::new()
            .ca(b"pem".to_vec())
            .cert(b"pem".to_vec())
            .key_file("/k.pem"),
    );
    assert!(ok.validate().is_ok());
    let bad = [
        TlsOptions::new().cert_file("/c.pem"),
        TlsOptions::new().key(b"k".to_vec()),
        TlsOptions::new()
            .cert(b"c".to_vec())
            .cert_file("/c")
            .key_file("/k"),
        TlsOptions::new()
            .cert_file("/c")
            .key(b"k".to_vec())
            .key_file("/k"),
    ];
    for tls in bad {
        let err = ConnectOptions::new()
            .tls(tls.clone())
            .validate()
            .expect_err("rejected");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{tls:?}");
    }
    let provider = Arc::new(crate::tls::rustls::crypto::ring::default_provider());
    let config = crate::tls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(crate::tls::rustls::RootCertStore::empty())
        .with_no_client_auth();
    let whole = ConnectOptions::new().tls_client_config(Arc::new(config));
    assert!(whole.tls_wanted() && whole.validate().is_ok());
    let both = whole.tls_ca_file("/ca.pem").validate().expect_err("both");
    assert!(
        both.to_string().contains("whole client configuration"),
        "{both}"
    );
    let key = TlsOptions::new()
        .cert(b"c".to_vec())
        .key(b"SECRET".to_vec());
    assert!(!format!("{key:?}").contains("SECRET"));
}
