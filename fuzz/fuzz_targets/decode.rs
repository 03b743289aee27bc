//! Feeds arbitrary bytes to the protocol decoder, split in two reads at a
//! point chosen by the input, with small caps so the limits are exercised.
//! The decoder must never panic and must never buffer past its caps.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nats_actix::headers::HeaderMap;
use nats_actix::proto::{Limits, Parser};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len();
    let data = &data[1..];
    let split = split.min(data.len());
    let limits = Limits::default().max_control_line(512).max_payload(4096);
    let mut parser = Parser::new(limits);
    let mut buf = BytesMut::new();
    for chunk in [&data[..split], &data[split..]] {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= 512 + 4096 + 2 + chunk.len());
    }
    let _ = HeaderMap::decode(data);
});
