//! Tests of the sans-IO protocol core: fixtures for every op, split reads,
//! the inputs reference clients reject, caps, and an encode/decode property
//! test.

use bytes::{Bytes, BytesMut};
use nats_actix::headers::{HeaderMap, StatusCode};
use nats_actix::proto::{
    ClientOp, ConnectInfo, ContentError, Limits, Parser, ProtoError, ServerOp,
};

/// Parses every op in `input`, fed in one piece.
fn parse_all(input: &[u8]) -> Result<Vec<ServerOp>, ProtoError> {
    let mut parser = Parser::default();
    let mut buf = BytesMut::from(input);
    let mut ops = Vec::new();
    while let Some(op) = parser.parse(&mut buf)? {
        ops.push(op);
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    Ok(ops)
}

/// Parses `input` fed in two pieces split at `at`, parsing after each.
fn parse_split(input: &[u8], at: usize) -> Result<Vec<ServerOp>, ProtoError> {
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in [&input[..at], &input[at..]] {
        buf.extend_from_slice(chunk);
        while let Some(op) = parser.parse(&mut buf)? {
            ops.push(op);
        }
    }
    assert!(buf.is_empty());
    Ok(ops)
}

/// Feeds `input` one byte at a time.
fn parse_bytewise(input: &[u8]) -> Result<Vec<ServerOp>, ProtoError> {
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for b in input {
        buf.extend_from_slice(&[*b]);
        while let Some(op) = parser.parse(&mut buf)? {
            ops.push(op);
        }
    }
    assert!(buf.is_empty());
    Ok(ops)
}

fn msg(
    sid: u64,
    subject: &str,
    reply: Option<&str>,
    headers: Option<HeaderMap>,
    payload: &'static [u8],
) -> ServerOp {
    ServerOp::Msg {
        sid,
        subject: subject.into(),
        reply: reply.map(Into::into),
        headers,
        payload: Bytes::from_static(payload),
    }
}

fn fixtures() -> Vec<(&'static str, &'static [u8], ServerOp)> {
    let mut h = HeaderMap::new();
    h.insert("Foo", "bar");
    h.append("Foo", "baz");
    let no_responders = HeaderMap::with_status(StatusCode::NO_RESPONDERS, None);
    let not_found = HeaderMap::with_status(StatusCode::NOT_FOUND, Some("No Messages"));
    vec![
        ("ping", b"PING\r\n", ServerOp::Ping),
        ("ping lower", b"ping\r\n", ServerOp::Ping),
        ("pong", b"PONG\r\n", ServerOp::Pong),
        ("pong mixed", b"PoNg\r\n", ServerOp::Pong),
        ("ok", b"+OK\r\n", ServerOp::Ok),
        ("ok bare lf", b"+OK\n", ServerOp::Ok),
        (
            "err",
            b"-ERR 'Stale Connection'\r\n",
            ServerOp::Err(nats_actix::proto::ServerError::parse("'Stale Connection'")),
        ),
        (
            "err tab",
            b"-err\t'Authorization Violation'\r\n",
            ServerOp::Err(nats_actix::proto::ServerError::parse(
                "'Authorization Violation'",
            )),
        ),
        (
            "msg",
            b"MSG foo 1 5\r\nhello\r\n",
            msg(1, "foo", None, None, b"hello"),
        ),
        (
            "msg lower tabs",
            b"msg\tfoo\t\t1 \t5\r\nhello\r\n",
            msg(1, "foo", None, None, b"hello"),
        ),
        (
            "msg reply",
            b"MSG foo.bar 12 _INBOX.x 3\r\nabc\r\n",
            msg(12, "foo.bar", Some("_INBOX.x"), None, b"abc"),
        ),
        (
            "msg empty",
            b"MSG foo 1 0\r\n\r\n",
            msg(1, "foo", None, None, b""),
        ),
        (
            "msg crlf payload",
            b"MSG foo 1 4\r\n\r\n\r\n\r\n",
            msg(1, "foo", None, None, b"\r\n\r\n"),
        ),
        (
            "msg utf8 subject",
            "MSG caf\u{e9}.\u{1f600} 1 1\r\nx\r\n".as_bytes(),
            msg(1, "caf\u{e9}.\u{1f600}", None, None, b"x"),
        ),
        (
            "hmsg",
            b"HMSG foo 2 32 37\r\nNATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\nhello\r\n",
            msg(2, "foo", None, Some(h.clone()), b"hello"),
        ),
        (
            "hmsg reply",
            b"HMSG foo 2 r.1 32 32\r\nNATS/1.0\r\nFoo: bar\r\nFoo: baz\r\n\r\n\r\n",
            msg(2, "foo", Some("r.1"), Some(h), b""),
        ),
        (
            "hmsg no responders",
            b"HMSG _INBOX.r 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
            msg(1, "_INBOX.r", None, Some(no_responders), b""),
        ),
        (
            "hmsg status description",
            b"hmsg x 9 28 28\r\nNATS/1.0 404 No Messages\r\n\r\n\r\n",
            msg(9, "x", None, Some(not_found), b""),
        ),
    ]
}

#[test]
fn info_fixture() {
    let input = b"INFO {\"server_id\":\"NABC\",\"version\":\"2.9.10\",\"max_payload\":1048576,\"headers\":true,\"connect_urls\":[\"10.0.0.1:4222\"],\"ldm\":true,\"unknown_field\":[1,2]} \r\n";
    for at in 0..=input.len() {
        let ops = parse_split(input, at).unwrap();
        let [ServerOp::Info(info)] = &ops[..] else {
            panic!("{ops:?}")
        };
        assert_eq!(info.server_id, "NABC");
        assert_eq!(info.version, "2.9.10");
        assert_eq!(info.max_payload, 1_048_576);
        assert!(info.headers && info.lame_duck_mode);
        assert_eq!(info.connect_urls, vec!["10.0.0.1:4222".to_string()]);
    }
    assert!(matches!(
        parse_all(b"INFO  {}\r\n").unwrap()[..],
        [ServerOp::Info(_)]
    ));
    assert!(matches!(
        parse_all(b"INFO {not json}\r\n"),
        Err(ProtoError::InvalidInfo(_))
    ));
    assert!(parse_all(b"INFO{}\r\n").is_err());
}

#[test]
fn every_fixture_parses() {
    for (name, input, expected) in fixtures() {
        assert_eq!(parse_all(input).unwrap(), vec![expected], "{name}");
    }
}

#[test]
fn every_fixture_parses_at_every_split() {
    for (name, input, expected) in fixtures() {
        for at in 0..=input.len() {
            assert_eq!(
                parse_split(input, at).unwrap(),
                vec![expected.clone()],
                "{name} split at {at}"
            );
        }
        assert_eq!(
            parse_bytewise(input).unwrap(),
            vec![expected],
            "{name} bytewise"
        );
    }
}

#[test]
fn all_fixtures_concatenated_parse_at_every_split() {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (_, bytes, op) in fixtures() {
        input.extend_from_slice(bytes);
        expected.push(op);
    }
    assert_eq!(parse_all(&input).unwrap(), expected);
    for at in 0..=input.len() {
        assert_eq!(parse_split(&input, at).unwrap(), expected, "split at {at}");
    }
    assert_eq!(parse_bytewise(&input).unwrap(), expected);
}

#[test]
fn large_payloads_are_slices_of_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"MSG foo 1 5\r\nhello\r\n");
    let base = buf.as_ptr() as usize;
    let Some(ServerOp::Msg {
        payload, subject, ..
    }) = Parser::new(Limits::default().copy_below(0))
        .parse(&mut buf)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(payload.as_ptr() as usize, base + 13, "payload was copied");
    assert_eq!(subject.as_ptr() as usize, base + 4, "subject was copied");
}

/// Small frames are copied out, so a retained message does not pin the
/// read chunk it arrived in; frames over the threshold are not.
#[test]
fn small_frames_are_copied_out_of_the_read_buffer() {
    let big = vec![b'x'; 9000];
    let mut buf = BytesMut::with_capacity(16 * 1024);
    buf.extend_from_slice(b"MSG foo 1 5\r\nhello\r\n");
    buf.extend_from_slice(format!("MSG big 1 {}\r\n", big.len()).as_bytes());
    buf.extend_from_slice(&big);
    buf.extend_from_slice(b"\r\n");
    let (lo, hi) = (
        buf.as_ptr() as usize,
        buf.as_ptr() as usize + buf.capacity(),
    );
    let inside = |p: *const u8| (lo..hi).contains(&(p as usize));
    let mut parser = Parser::default();
    let Some(ServerOp::Msg {
        payload, subject, ..
    }) = parser.parse(&mut buf).unwrap()
    else {
        panic!()
    };
    assert_eq!(&payload[..], b"hello");
    assert!(
        !inside(payload.as_ptr()) && !inside(subject.as_ptr()),
        "small frame pins the buffer"
    );
    let Some(ServerOp::Msg { payload, .. }) = parser.parse(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(payload.len(), 9000);
    assert!(inside(payload.as_ptr()), "a large payload is zero-copy");
}

/// The inputs nats.go's `TestParserShouldFail` (and nats.deno) reject.
const SHOULD_FAIL: [&[u8]; 23] = [
    b" PING",
    b"POO",
    b"Px",
    b"PIx",
    b"PINx",
    b"POx",
    b"PONx",
    b"ZOO",
    b"Mx\r\n",
    b"MSx\r\n",
    b"MSGx\r\n",
    b"MSG  foo\r\n",
    b"MSG \r\n",
    b"MSG foo 1\r\n",
    b"MSG foo bar 1\r\n",
    b"MSG foo bar 1 baz\r\n",
    b"MSG foo 1 bar baz\r\n",
    b"+x\r\n",
    b"+Ox\r\n",
    b"-x\r\n",
    b"-Ex\r\n",
    b"-ERx\r\n",
    b"-ERRx\r\n",
];

#[test]
fn reference_bad_inputs_are_errors() {
    for input in SHOULD_FAIL {
        let mut buf = BytesMut::from(input);
        let res = Parser::default().parse(&mut buf);
        assert!(
            res.is_err(),
            "{:?} gave {res:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Content errors (a peer's bad subject or header block) spoil one frame,
/// which is consumed whole; the next op parses normally.
#[test]
fn content_errors_spoil_one_message_not_the_stream() {
    type Check = fn(&ContentError) -> bool;
    let cases: [(&[u8], Check, &[u8]); 4] = [
        (
            b"MSG \xff\xfe 1 1\r\nx\r\n",
            |e| matches!(e, ContentError::Subject(_)),
            b"x",
        ),
        (
            b"MSG bad.\xff 7 2\r\nhi\r\n",
            |e| matches!(e, ContentError::Subject(_)),
            b"hi",
        ),
        (
            b"MSG foo 1 r.\xff 2\r\nhi\r\n",
            |e| matches!(e, ContentError::Reply(_)),
            b"hi",
        ),
        (
            b"HMSG foo 1 12 12\r\nXATS/1.0\r\n\r\n\r\n",
            |e| matches!(e, ContentError::Header(_)),
            b"XATS/1.0\r\n\r\n",
        ),
    ];
    for (input, check, want_raw) in cases {
        // Alone, then followed by a good message, at every split offset.
        let mut stream = input.to_vec();
        stream.extend_from_slice(b"MSG ok 1 2\r\nok\r\nPING\r\n");
        for split in 0..=stream.len() {
            let mut parser = Parser::default();
            let mut buf = BytesMut::from(&stream[..split]);
            let mut ops = Vec::new();
            while let Some(op) = parser.parse(&mut buf).expect("no stream error") {
                ops.push(op);
            }
            buf.extend_from_slice(&stream[split..]);
            while let Some(op) = parser.parse(&mut buf).expect("no stream error") {
                ops.push(op);
            }
            assert_eq!(
                ops.len(),
                3,
                "{:?} split at {split}: {ops:?}",
                String::from_utf8_lossy(input)
            );
            match &ops[0] {
                ServerOp::Malformed { error, raw, .. } => {
                    assert!(check(error), "{error:?}");
                    assert_eq!(&raw[..], want_raw);
                }
                other => panic!("expected Malformed, got {other:?}"),
            }
            assert!(matches!(&ops[1], ServerOp::Msg { subject, .. } if subject.as_str() == "ok"));
            assert_eq!(ops[2], ServerOp::Ping);
        }
    }
}

#[test]
fn tolerated_like_nats_go() {
    assert_eq!(parse_all(b"+OKay\r\n").unwrap(), vec![ServerOp::Ok]);
    assert_eq!(parse_all(b"PINGx\r\n").unwrap(), vec![ServerOp::Ping]);
    assert_eq!(parse_all(b"MSG foo 1 5 \r\nhello\r\n").unwrap().len(), 1);
}

#[test]
fn more_bad_inputs() {
    type Check = fn(&ProtoError) -> bool;
    let cases: [(&[u8], Check); 7] = [
        (b"MSG foo \xff 1\r\nx\r\n", |e| {
            matches!(e, ProtoError::InvalidArguments(_))
        }),
        (b"HMSG foo 1 10 5\r\nNATS/1.0\r\n\r\n\r\n", |e| {
            matches!(e, ProtoError::HeaderLengthExceedsTotal)
        }),
        (b"MSG foo 1 5\r\nhelloXY", |e| {
            matches!(e, ProtoError::MissingPayloadTerminator)
        }),
        (b"MSG foo 1 99999999999999999999999\r\n", |e| {
            matches!(e, ProtoError::InvalidArguments(_))
        }),
        (b"MSG foo 1 -5\r\n", |e| {
            matches!(e, ProtoError::InvalidArguments(_))
        }),
        (b"MSG a b c d e f\r\n", |e| {
            matches!(e, ProtoError::InvalidArguments(_))
        }),
        (b"\r\n", |e| matches!(e, ProtoError::UnknownOp)),
    ];
    for (input, check) in cases {
        let err = parse_all(input).expect_err(&String::from_utf8_lossy(input));
        assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn overlong_control_line_without_crlf_is_an_error() {
    let limits = Limits::default().max_control_line(1024);
    let mut parser = Parser::new(limits);
    let mut buf = BytesMut::from(&b"MSG "[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    // Grows in chunks without ever sending a line end.
    let mut err = None;
    for _ in 0..100 {
        buf.extend_from_slice(&[b'a'; 100]);
        match parser.parse(&mut buf) {
            Ok(None) => {}
            Ok(Some(op)) => panic!("{op:?}"),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(err, Some(ProtoError::ControlLineTooLong)),
        "{err:?}"
    );
    assert!(buf.len() <= 1024 + 100, "buffered {} bytes", buf.len());

    // A long but complete line within the cap is fine.
    let subject = "s".repeat(1000);
    let line = format!("MSG {subject} 1 1\r\nx\r\n");
    assert!(
        Parser::new(Limits::default().max_control_line(1024))
            .parse(&mut BytesMut::from(line.as_bytes()))
            .unwrap()
            .is_some()
    );
    let line = format!("MSG {subject}{subject} 1 1\r\nx\r\n");
    assert!(matches!(
        Parser::new(limits).parse(&mut BytesMut::from(line.as_bytes())),
        Err(ProtoError::ControlLineTooLong)
    ));
}

#[test]
fn announced_payload_over_the_ceiling_is_an_error_before_buffering() {
    let limits = Limits::default().max_payload(1024);
    let mut buf = BytesMut::from(&b"MSG foo 1 1025\r\n"[..]);
    assert!(matches!(
        Parser::new(limits).parse(&mut buf),
        Err(ProtoError::PayloadTooLarge {
            size: 1025,
            limit: 1024
        })
    ));
    let mut buf = BytesMut::from(&b"HMSG foo 1 12 2000\r\n"[..]);
    assert!(matches!(
        Parser::new(limits).parse(&mut buf),
        Err(ProtoError::PayloadTooLarge { .. })
    ));
    // The default ceiling is 64 MiB.
    let mut buf = BytesMut::from(&b"MSG foo 1 67108865\r\n"[..]);
    assert!(matches!(
        Parser::default().parse(&mut buf),
        Err(ProtoError::PayloadTooLarge { .. })
    ));
}

#[test]
fn half_arrived_payload_is_not_rescanned() {
    // The control line is parsed once; afterwards the parser only compares
    // lengths. We prove it by corrupting bytes of the control line that the
    // parser already consumed logically: a rescan would see garbage.
    let mut parser = Parser::default();
    let mut buf = BytesMut::from(&b"MSG foo 1 10\r\nhello"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    buf[0] = b'Z';
    buf.extend_from_slice(b"world\r\n");
    let op = parser.parse(&mut buf).unwrap().unwrap();
    assert!(matches!(op, ServerOp::Msg { ref payload, .. } if payload == "helloworld"));
}

#[test]
fn client_ops_encode() {
    let mut buf = BytesMut::new();
    ClientOp::Ping.encode(&mut buf).unwrap();
    ClientOp::Pong.encode(&mut buf).unwrap();
    ClientOp::Subscribe {
        sid: 1,
        subject: "foo".into(),
        queue_group: None,
    }
    .encode(&mut buf)
    .unwrap();
    ClientOp::Subscribe {
        sid: 2,
        subject: "foo.>".into(),
        queue_group: Some("q".into()),
    }
    .encode(&mut buf)
    .unwrap();
    ClientOp::Unsubscribe { sid: 1, max: None }
        .encode(&mut buf)
        .unwrap();
    ClientOp::Unsubscribe {
        sid: 2,
        max: Some(10),
    }
    .encode(&mut buf)
    .unwrap();
    ClientOp::Publish {
        subject: "a".into(),
        reply: Some("b".into()),
        headers: None,
        payload: Bytes::from_static(b"xyz"),
    }
    .encode(&mut buf)
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert("K", "v");
    ClientOp::Publish {
        subject: "a".into(),
        reply: None,
        headers: Some(h),
        payload: Bytes::from_static(b"xy"),
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(
        &buf[..],
        &b"PING\r\nPONG\r\nSUB foo 1\r\nSUB foo.> q 2\r\nUNSUB 1\r\nUNSUB 2 10\r\nPUB a b 3\r\nxyz\r\nHPUB a 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nxy\r\n"[..]
    );
}

#[test]
fn connect_encodes_json_and_redacts_debug() {
    let mut info = ConnectInfo::default();
    info.user = Some("derek".into());
    info.pass = Some("s3cr3t".into());
    info.echo = false;
    let mut buf = BytesMut::new();
    ClientOp::Connect(Box::new(info.clone()))
        .encode(&mut buf)
        .unwrap();
    assert!(buf.starts_with(b"CONNECT {") && buf.ends_with(b"}\r\n"));
    let json: serde_json::Value = serde_json::from_slice(&buf[8..buf.len() - 2]).unwrap();
    assert_eq!(json["user"], "derek");
    assert_eq!(json["pass"], "s3cr3t");
    assert_eq!(json["echo"], false);
    assert_eq!(json["headers"], true);
    assert_eq!(json["no_responders"], true);
    assert_eq!(json["protocol"], 1);
    assert_eq!(json["lang"], "rust");
    assert!(json.get("auth_token").is_none());
    assert!(!format!("{info:?}").contains("s3cr3t"));
}

#[test]
fn invalid_headers_write_nothing() {
    let mut h = HeaderMap::new();
    h.insert("Bad Name", "v");
    let mut buf = BytesMut::from(&b"PING\r\n"[..]);
    let err = ClientOp::Publish {
        subject: "a".into(),
        reply: None,
        headers: Some(h),
        payload: Bytes::new(),
    }
    .encode(&mut buf)
    .unwrap_err();
    assert!(matches!(err, ProtoError::Header(_)));
    assert_eq!(&buf[..], b"PING\r\n");
}

/// xorshift64*: a tiny deterministic PRNG, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn token(&mut self, alphabet: &[u8], min: u64, max: u64) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

const SUBJECT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-$";
const NAME_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#%&'*+.^`|~";
const VALUE_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:;,./\"'{}[]=";

fn random_subject(rng: &mut Rng) -> String {
    let tokens = 1 + rng.below(5);
    (0..tokens)
        .map(|_| rng.token(SUBJECT_CHARS, 1, 12))
        .collect::<Vec<_>>()
        .join(".")
}

#[test]
fn property_encode_then_decode_round_trips() {
    const CASES: usize = 10_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut wire = BytesMut::new();
    let mut expected = Vec::with_capacity(CASES);
    for i in 0..CASES {
        let subject = random_subject(&mut rng);
        let reply = (rng.below(2) == 0).then(|| random_subject(&mut rng));
        let headers = (rng.below(2) == 0).then(|| {
            let mut h = HeaderMap::new();
            if rng.below(4) == 0 {
                let code = [100, 404, 408, 409, 503][rng.below(5) as usize];
                let desc = (rng.below(2) == 0).then(|| rng.token(SUBJECT_CHARS, 1, 10));
                h = HeaderMap::with_status(StatusCode::new(code), desc.as_deref());
            }
            for _ in 0..rng.below(5) {
                let name = rng.token(NAME_CHARS, 1, 16);
                let value = rng.token(VALUE_CHARS, 0, 30);
                h.append(name, value.trim().to_string());
            }
            h
        });
        let len = match rng.below(10) {
            0 => rng.below(70_000),
            _ => rng.below(300),
        } as usize;
        let payload: Bytes = (0..len)
            .map(|_| rng.next() as u8)
            .collect::<Vec<u8>>()
            .into();
        let sid = rng.next() >> rng.below(64);

        // Encode as the client would publish it, then turn the PUB/HPUB the
        // server receives into the MSG/HMSG it delivers.
        let mut out = BytesMut::new();
        ClientOp::Publish {
            subject: subject.as_str().into(),
            reply: reply.as_deref().map(Into::into),
            headers: headers.clone(),
            payload: payload.clone(),
        }
        .encode(&mut out)
        .unwrap();
        let line_end = out.iter().position(|b| *b == b'\n').unwrap();
        let line = std::str::from_utf8(&out[..line_end - 1]).unwrap();
        let mut fields: Vec<&str> = line.split(' ').collect();
        let op = if fields[0] == "PUB" { "MSG" } else { "HMSG" };
        fields.remove(0);
        let sid_s = sid.to_string();
        fields.insert(1, &sid_s);
        // Mix in case and tabs, which the parser must accept.
        let op = if i % 3 == 0 {
            op.to_ascii_lowercase()
        } else {
            op.to_string()
        };
        let sep = if i % 5 == 0 { "\t" } else { " " };
        wire.extend_from_slice(format!("{op}{sep}{}\r\n", fields.join(sep)).as_bytes());
        wire.extend_from_slice(&out[line_end + 1..]);
        expected.push(ServerOp::Msg {
            sid,
            subject: subject.as_str().into(),
            reply: reply.as_deref().map(Into::into),
            headers,
            payload,
        });
    }
    // Decode with random read sizes.
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::with_capacity(CASES);
    let mut pos = 0;
    while pos < wire.len() {
        let n = (1 + rng.below(9000) as usize).min(wire.len() - pos);
        buf.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        while let Some(op) = parser.parse(&mut buf).unwrap() {
            got.push(op);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got.len(), CASES);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "case {i}");
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(42);
    let seeds: Vec<&[u8]> = fixtures().iter().map(|f| f.1).collect();
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len() as u64) as usize].to_vec();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(input.len() as u64) as usize;
            match rng.below(3) {
                0 => input[i] = rng.next() as u8,
                1 => input.insert(i, rng.next() as u8),
                _ => {
                    input.remove(i);
                }
            }
            if input.is_empty() {
                break;
            }
        }
        let mut parser = Parser::new(Limits::default().max_control_line(256).max_payload(4096));
        let mut buf = BytesMut::from(&input[..]);
        for _ in 0..input.len() + 1 {
            match parser.parse(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}
