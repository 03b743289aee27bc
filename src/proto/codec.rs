//! A tokio-util [`Decoder`]/[`Encoder`] over the sans-IO protocol.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::{ClientOp, Limits, Parser, ProtoError, ServerOp};

/// The NATS client protocol as a tokio-util codec: decodes [`ServerOp`]s,
/// encodes [`ClientOp`]s.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use nats_actix::proto::codec::NatsCodec;
/// use nats_actix::proto::{ClientOp, ServerOp};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = NatsCodec::default();
/// let mut buf = BytesMut::from(&b"PING\r\n"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap(), Some(ServerOp::Ping));
/// let mut out = BytesMut::new();
/// codec.encode(ClientOp::Pong, &mut out).unwrap();
/// assert_eq!(&out[..], b"PONG\r\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct NatsCodec {
    parser: Parser,
}

impl NatsCodec {
    /// A codec with the given parser caps.
    pub fn new(limits: Limits) -> NatsCodec {
        NatsCodec {
            parser: Parser::new(limits),
        }
    }
}

impl Decoder for NatsCodec {
    type Item = ServerOp;
    type Error = ProtoError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
        self.parser.parse(src)
    }
}

impl Encoder<ClientOp> for NatsCodec {
    type Error = ProtoError;

    fn encode(&mut self, item: ClientOp, dst: &mut BytesMut) -> Result<(), ProtoError> {
        item.encode(dst)
    }
}

impl Encoder<&ClientOp> for NatsCodec {
    type Error = ProtoError;

    fn encode(&mut self, item: &ClientOp, dst: &mut BytesMut) -> Result<(), ProtoError> {
        item.encode(dst)
    }
}
