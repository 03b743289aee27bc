//! Typed delivery: payload codecs (JSON with serde_json, UTF-8 text) and
//! the [`Typed`] message an actor receives when it subscribes through one.
//!
//! A payload that fails to decode is delivered as an `Err` with
//! [`ErrorKind::Codec`], alongside the raw
//! message: never a panic, never a silent drop.

use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, ErrorKind, Msg};

/// Turns payloads into values and back.
///
/// # Examples
///
/// ```
/// use nats_actix::codec::{Codec, JsonCodec, StringCodec};
/// let bytes = JsonCodec::<Vec<u32>>::encode(&vec![1, 2]).unwrap();
/// assert_eq!(JsonCodec::<Vec<u32>>::decode(&bytes).unwrap(), vec![1, 2]);
/// assert!(StringCodec::decode(&[0xff]).is_err());
/// ```
pub trait Codec: 'static {
    /// The decoded type.
    type Item: Send + 'static;

    /// Decodes a payload.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when the payload is not a valid `Item`.
    fn decode(payload: &[u8]) -> Result<Self::Item, Error>;

    /// Encodes a value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Codec`] when the value cannot be encoded.
    fn encode(item: &Self::Item) -> Result<Bytes, Error>;
}

/// JSON through serde_json.
#[derive(Debug)]
pub struct JsonCodec<T>(PhantomData<fn() -> T>);

impl<T: Serialize + DeserializeOwned + Send + 'static> Codec for JsonCodec<T> {
    type Item = T;

    fn decode(payload: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(payload).map_err(|e| Error::with_source(ErrorKind::Codec, e))
    }

    fn encode(item: &T) -> Result<Bytes, Error> {
        serde_json::to_vec(item)
            .map(Bytes::from)
            .map_err(|e| Error::with_source(ErrorKind::Codec, e))
    }
}

/// UTF-8 text.
#[derive(Debug)]
pub struct StringCodec;

impl Codec for StringCodec {
    type Item = String;

    fn decode(payload: &[u8]) -> Result<String, Error> {
        std::str::from_utf8(payload)
            .map(str::to_string)
            .map_err(|e| Error::with_source(ErrorKind::Codec, e))
    }

    fn encode(item: &String) -> Result<Bytes, Error> {
        Ok(Bytes::copy_from_slice(item.as_bytes()))
    }
}

/// A decoded message for an actor subscribed with a codec (see
/// [`Client::subscribe_typed_actor`](crate::Client::subscribe_typed_actor)).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use nats_actix::codec::Typed;
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Order { id: u32 }
///
/// struct Orders;
/// impl Actor for Orders { type Context = Context<Self>; }
/// impl Handler<Typed<Order>> for Orders {
///     type Result = ();
///     fn handle(&mut self, m: Typed<Order>, _: &mut Context<Self>) {
///         match m.value {
///             Ok(order) => println!("order {}", order.id),
///             Err(e) => eprintln!("bad order on {}: {e}", m.msg.subject),
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Typed<T> {
    /// The decoded value, or why it could not be decoded.
    pub value: Result<T, Error>,
    /// The raw message (subject, reply, headers, payload).
    pub msg: Msg,
}

impl<T: 'static> actix::Message for Typed<T> {
    type Result = ();
}
