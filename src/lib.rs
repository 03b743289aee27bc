//! # nats-actix
//!
//! A [NATS](https://nats.io) client for Rust built on the
//! [actix](https://docs.rs/actix) actor framework.
//!
//! This release contains the foundation: the sans-IO protocol core
//! ([`proto`]), message headers ([`headers`]), subject validation
//! ([`subject`]) and the error type ([`Error`]). The actors come next.
//!
//! ## Architecture
//!
//! ```text
//!  user actors ──Publish/Subscribe/Request──▶ Client (Clone handle of addresses)
//!        Supervisor ──▶ Connection ◀── Subscription (one per sid)
//!                            ▲
//!                       RequestMux
//! ```
//!
//! - **Connection** owns the socket, encodes [`proto::ClientOp`] into one
//!   write buffer flushed in batches, decodes [`proto::ServerOp`] with a
//!   resumable [`proto::Parser`] and routes messages by subscription id.
//! - **Subscription** (one actor per subscription) owns limits, counters and
//!   delivery to the user's `Recipient<Msg>` or a `Stream`.
//! - **RequestMux** multiplexes requests over one wildcard inbox.
//! - **Supervisor** owns the server pool, reconnects and status events.
//!
//! Everything that is not an actor (the codec, headers, subject rules) is
//! plain code that runs without a runtime.
//!
//! # Examples
//!
//! ```
//! use nats_actix::{Subject, headers::HeaderMap};
//!
//! let subject = Subject::publish("orders.created")?;
//! let mut headers = HeaderMap::new();
//! headers.insert("Nats-Msg-Id", "42");
//! assert_eq!(headers.get("nats-msg-id"), Some("42"));
//! # Ok::<(), nats_actix::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rustdoc::broken_intra_doc_links
)]

pub mod client;
pub mod connection;
pub mod error;
pub mod event;
pub mod headers;
pub mod messages;
pub mod msg;
pub mod muxer;
pub mod nuid;
pub mod options;
pub mod proto;
pub mod stats;
pub mod subject;
pub mod subscription;
pub mod supervisor;
mod transport;

pub use client::{
    Client, EventStream, JsonSubscriber, RequestManyOptions, Subscriber, TextSubscriber,
};
pub use error::{Error, ErrorKind, Result};
pub use event::Event;
pub use headers::{HeaderMap, StatusCode};
pub use messages::{
    Publish, RequestOptions, Subscribe, SubscribeOptions, SubscriptionEnded, SubscriptionHandle,
};
pub use msg::Msg;
pub use options::{ConnectOptions, ServerAddr};
pub use stats::Statistics;
pub use subject::{Subject, SubjectError};

/// Mailbox capacity of the crate's actors: senders that use `send` (and
/// [`Client`]) wait when a mailbox holds this many messages.
pub(crate) const MAILBOX_CAPACITY: usize = 1 << 16;
