//! The NATS wire protocol, with no I/O.
//!
//! [`ClientOp`] encodes what a client sends (`CONNECT`, `PUB`, `HPUB`,
//! `SUB`, `UNSUB`, `PING`, `PONG`) into a [`BytesMut`](bytes::BytesMut);
//! [`Parser`] decodes what a server sends (`INFO`, `MSG`, `HMSG`, `PING`,
//! `PONG`, `+OK`, `-ERR`) out of one. [`codec::NatsCodec`] wraps both as a
//! tokio-util `Decoder`/`Encoder`.
//!
//! The parser keeps "need more bytes" (`Ok(None)`) apart from "invalid"
//! (`Err`), never rescans a payload that is still arriving, hands out
//! payloads as zero-copy [`Bytes`](bytes::Bytes) slices of the read buffer,
//! and caps both the control line and the announced payload size
//! ([`Limits`]), so memory stays bounded whatever the server sends.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use nats_actix::proto::{ClientOp, Limits, Parser, ServerOp};
//!
//! let mut out = BytesMut::new();
//! ClientOp::Publish {
//!     subject: "greet".into(),
//!     reply: None,
//!     headers: None,
//!     payload: Bytes::from_static(b"hi"),
//! }
//! .encode(&mut out)
//! .unwrap();
//! assert_eq!(&out[..], b"PUB greet 2\r\nhi\r\n");
//!
//! let mut input = BytesMut::from(&b"MSG greet 1 2\r\nhi\r\n"[..]);
//! let mut parser = Parser::new(Limits::default());
//! match parser.parse(&mut input).unwrap() {
//!     Some(ServerOp::Msg { subject, payload, .. }) => {
//!         assert_eq!(subject, "greet");
//!         assert_eq!(payload, "hi");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

pub(crate) mod client_op;
pub mod codec;
mod error;
mod info;
mod server_op;

pub use client_op::{ClientOp, ConnectInfo, encode_pub, encode_pub_head, write_u64};
pub use error::{ProtoError, ServerError, ServerErrorKind};
pub use info::ServerInfo;
pub use server_op::{ContentError, Limits, Parser, ServerOp};
