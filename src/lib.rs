//! # nats-actix
//!
//! A [NATS](https://nats.io) client for Rust built on the
//! [actix](https://docs.rs/actix) actor framework.
//!
//! The connection, each subscription, the request muxer and the supervisor
//! are actors that exchange typed messages. Your actors send
//! [`Publish`], [`Subscribe`],
//! [`Request`](messages::Request), [`Flush`](messages::Flush),
//! [`Drain`](messages::Drain) and [`Close`](messages::Close), and receive
//! NATS messages as [`Msg`] in their own `Handler<Msg>`. Code that is not an
//! actor uses the [`Client`] handle, whose async methods send the same
//! messages, and reads subscriptions as a `Stream<Item = Msg>`
//! ([`Subscriber`]).
//!
//! ## Quick start
//!
//! ```no_run
//! use nats_actix::{Client, ConnectOptions};
//!
//! #[actix_rt::main]
//! async fn main() -> nats_actix::Result<()> {
//!     let client = Client::connect(ConnectOptions::new().server("nats://127.0.0.1:4222")).await?;
//!
//!     // A service answering requests.
//!     let mut service = client.subscribe("time").await?;
//!     actix_rt::spawn(async move {
//!         while let Some(msg) = service.next_msg().await {
//!             let _ = msg.respond("12:00");
//!         }
//!     });
//!     client.flush().await?;
//!
//!     let reply = client.request("time", "").await?;
//!     println!("the time is {}", reply.payload_str()?);
//!     client.drain().await
//! }
//! ```
//!
//! ## From an actor
//!
//! ```no_run
//! use actix::prelude::*;
//! use nats_actix::{Client, Msg, SubscribeOptions};
//!
//! struct Greeter;
//! impl Actor for Greeter {
//!     type Context = Context<Self>;
//! }
//! impl Handler<Msg> for Greeter {
//!     type Result = ();
//!     fn handle(&mut self, msg: Msg, _: &mut Context<Self>) {
//!         let _ = msg.respond(format!("hello, {}", msg.subject));
//!     }
//! }
//!
//! # async fn run(client: Client) -> nats_actix::Result<()> {
//! let greeter = Greeter.start();
//! client
//!     .subscribe_actor("greet.*", greeter.recipient(), SubscribeOptions::default().queue("greeters"))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## Architecture
//!
//! ```text
//!  user actors ──Publish/Subscribe/Request──▶ Client (Clone handle of addresses)
//!                                               │
//!             ┌─────────────────────────────────┼───────────────────────────┐
//!             ▼                                 ▼                           ▼
//!      Supervisor  ──attaches──────────▶  Connection  ──Deliver──▶  Subscription (one per sid)
//!    (server pool, status events,      (owns the socket;            (limits, max, timeout,
//!     closed(), reconnect policy)       encodes ClientOp,            drain, slow-consumer
//!                                       decodes ServerOp,            policy; delivers Msg to
//!                                       PING/PONG, INFO updates,     a Recipient<Msg> or a
//!                                       routes MSG by sid)           Stream)
//!                                               ▲
//!                                               │ one wildcard inbox subscription
//!                                         RequestMux
//!                                    (token → waiter, timeouts,
//!                                     no-responders, cleanup)
//! ```
//!
//! - [`connection::Connection`] owns the socket. Publishes are encoded
//!   straight into one write buffer that a write loop drains in large
//!   writes when the mailbox runs dry; over `write_buffer_limit` the
//!   publisher waits (backpressure). Reads go through the resumable
//!   [`proto::Parser`], whose control-line and payload caps bound memory.
//! - [`subscription::Subscription`] owns each subscription's state. A
//!   delivered [`Msg`] counts as pending until dropped; over the pending
//!   limits the newest message is dropped, counted, and reported once per
//!   episode as [`Event::SlowConsumer`]. Nothing is dropped silently.
//! - [`muxer::RequestMux`] runs every request over one inbox subscription.
//! - [`supervisor::Supervisor`] owns connecting: the first connect and
//!   every reconnect, in one loop over the server pool (nats.go's rules:
//!   the lost server goes last, `reconnect_time_wait` plus jitter after a
//!   full pass, `max_reconnect_attempts` per server, the auth-error abort
//!   rule, `wait_on_first_connect`, `force_reconnect`, a move off a
//!   lame-duck server on request). It applies cluster updates to the pool,
//!   fans out [`Event`]s in order (`Connected`, `Disconnected`,
//!   `Reconnecting`, `Reconnected`, ..., `Closed`) and resolves
//!   [`Client::closed`].
//!
//! What survives a transport (subscriptions, PONG waiters, INFO) is a
//! plain `Session` struct inside the Connection; after a reconnect every
//! live subscription is replayed with what remains of its `max`, before
//! the publishes buffered while disconnected (bounded in bytes by
//! `reconnect_buffer_size`). [`Client::connection_state`] tells where the
//! connection stands.
//!
//! Only framing errors (a bad control line, wrong lengths) end a link, and
//! then the client reconnects; a peer's malformed message (a subject that
//! is not UTF-8, a bad header block) is dropped, counted in
//! [`Statistics::malformed`] and reported as an [`ErrorKind::MalformedMessage`]
//! event. Dropped rather than delivered: a [`Msg`]'s subject is a valid
//! [`Subject`], and a handler should never see one that is not.

//! The actors' files depend one way: `messages` ← `subscription` ←
//! `connection` ← `muxer` ← `supervisor` ← `client`. The messages the
//! actors exchange live in [`messages`], below them all, and an actor holds
//! another's mailbox as a `Recipient` of the messages it sends, never as an
//! `Addr` of a file above it.
//!
//! Everything that is not an actor (the codec, headers, subject rules,
//! options, nuid) is plain code that runs without a runtime.
#![forbid(unsafe_code)]
#![deny(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rustdoc::broken_intra_doc_links
)]

pub mod auth;
pub mod client;
pub mod codec;
pub mod connection;
pub mod error;
pub mod event;
pub mod headers;
pub mod jetstream;
pub mod messages;
pub mod msg;
pub mod muxer;
pub mod nuid;
pub mod options;
mod pending;
mod pool;
pub mod proto;
pub mod queue;
pub mod service;
mod session;
pub mod stats;
pub mod subject;
pub mod subscription;
pub mod supervisor;
pub mod tls;
mod transport;
mod writer;

pub use client::{
    Client, EventStream, JsonSubscriber, RequestManyOptions, Subscriber, TextSubscriber,
};
pub use error::{Error, ErrorKind, Result};
pub use event::{ConnectionState, Event};
pub use headers::{HeaderMap, StatusCode};
pub use messages::{
    Publish, RequestOptions, Subscribe, SubscribeOptions, SubscriptionEnded, SubscriptionHandle,
};
pub use msg::Msg;
pub use options::{ConnectOptions, ServerAddr, TlsOptions};
pub use stats::Statistics;
pub use subject::{Subject, SubjectError};

/// Mailbox capacity of the crate's actors: senders that use `send` (and
/// [`Client`]) wait when a mailbox holds this many messages.
pub(crate) const MAILBOX_CAPACITY: usize = 1 << 16;
