//! The RequestMux: every request shares one wildcard inbox subscription,
//! `<inbox_prefix>.<nuid>.*`, and a table from token to waiter routes each
//! reply. A 503 status becomes `NoResponders`, a publish permission
//! violation fails the matching requests, a timeout fails the request, and
//! a caller that gives up removes its waiter.
//!
//! The table is shared: the Connection resolves a waiter in the read loop
//! itself, and [`Client::request`](crate::Client::request) registers one
//! directly, so a request costs no actor hop on either side. The
//! RequestMux actor owns the subscription and the table's lifecycle, and
//! serves [`Request`] messages from actors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tokio::sync::{OnceCell, oneshot};

use crate::connection::Connection;
use crate::headers::StatusCode;
use crate::messages::{Delivery, Request, Subscribe, SubscribeOptions};
use crate::options::ConnectOptions;
use crate::writer::Writer;
use crate::{Error, ErrorKind, Msg, Subject};

struct Waiter {
    subject: Subject,
    tx: oneshot::Sender<Result<Msg, Error>>,
}

/// The waiter table and the inbox, shared by the actor, the Client and the
/// Connection's delivery.
pub(crate) struct MuxShared {
    prefix: String,
    waiters: Mutex<HashMap<u64, Waiter>>,
    /// Tokens from [`ConnectOptions::rng_seed`] when set (replayable
    /// runs), else from the OS-seeded CSPRNG.
    seeded: Option<Mutex<rand::rngs::StdRng>>,
    ready: OnceCell<()>,
    conn: Addr<Connection>,
    writer: Arc<Writer>,
}

impl MuxShared {
    fn token(&self) -> u64 {
        match &self.seeded {
            Some(rng) => {
                rand::RngExt::random::<u64>(&mut *rng.lock().unwrap_or_else(|p| p.into_inner()))
            }
            None => rand::random::<u64>(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes the inbox once; later calls return at once.
    pub(crate) async fn ensure_subscribed(self: &Arc<Self>) -> Result<(), Error> {
        let me = self.clone();
        self.ready
            .get_or_try_init(|| async move {
                let weak = Arc::downgrade(&me);
                // A reply is the caller's from here on: it holds no pending
                // slot (a drain does not wait for callers to drop replies).
                let deliver = move |msg: Msg| match weak.upgrade() {
                    Some(mux) => {
                        mux.resolve(msg.without_pending());
                        true
                    }
                    None => false,
                };
                me.conn
                    .send(Subscribe {
                        subject: Subject::from(format!("{}.*", me.prefix)),
                        delivery: Delivery::Func(Arc::new(deliver)),
                        options: SubscribeOptions::default().pending_limits(usize::MAX, usize::MAX),
                    })
                    .await
                    .map_err(|e| match e {
                        MailboxError::Closed => Error::new(ErrorKind::Closed),
                        MailboxError::Timeout => Error::new(ErrorKind::TimedOut),
                    })??;
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }

    /// Registers a waiter and publishes the request. Returns its token.
    pub(crate) fn start(
        &self,
        req: &Request,
        tx: oneshot::Sender<Result<Msg, Error>>,
    ) -> Result<u64, Error> {
        if self.writer.state() == crate::ConnectionState::Draining {
            // A drain refuses new requests at once; replies still go out.
            return Err(Error::with_source(
                ErrorKind::Closed,
                "the connection is draining: no new requests",
            ));
        }
        // Tokens are 64 random bits from an OS-seeded CSPRNG: a service
        // that sees one reply subject cannot guess the next one.
        let token = {
            let mut waiters = self.lock();
            let mut token = self.token();
            while waiters.contains_key(&token) {
                token = self.token();
            }
            waiters.insert(
                token,
                Waiter {
                    subject: req.subject.clone(),
                    tx,
                },
            );
            token
        };
        let reply = format!("{}.{}", self.prefix, token);
        if let Err(e) = self.writer.publish(
            &req.subject,
            Some(&reply),
            req.options.headers.as_ref(),
            &req.payload,
        ) {
            self.lock().remove(&token);
            return Err(e);
        }
        Ok(token)
    }

    /// Forgets a waiter; true when it was still waiting.
    pub(crate) fn cancel(&self, token: u64) -> bool {
        self.lock().remove(&token).is_some()
    }

    fn fail(&self, token: u64, err: Error) {
        if let Some(w) = self.lock().remove(&token) {
            let _ = w.tx.send(Err(err));
        }
    }

    /// A request on a subscription of its own (`no_mux`, or a `reply`
    /// subject of the caller's choosing): subscribe with max 1, publish,
    /// wait; the subscription ends with the reply or the timeout.
    async fn request_no_mux(
        &self,
        req: Request,
        timeout: std::time::Duration,
        inbox_prefix: &str,
    ) -> Result<Msg, Error> {
        if self.writer.state() == crate::ConnectionState::Draining {
            return Err(Error::with_source(
                ErrorKind::Closed,
                "the connection is draining: no new requests",
            ));
        }
        let reply =
            req.options.reply.clone().unwrap_or_else(|| {
                Subject::from(format!("{inbox_prefix}.{}", crate::nuid::next()))
            });
        let (tx, rx) = oneshot::channel::<Msg>();
        let slot = Mutex::new(Some(tx));
        let deliver = move |msg: Msg| {
            if let Some(tx) = slot.lock().ok().and_then(|mut s| s.take()) {
                let _ = tx.send(msg.without_pending());
            }
            false
        };
        let handle = self
            .conn
            .send(Subscribe {
                subject: reply.clone(),
                delivery: Delivery::Func(Arc::new(deliver)),
                options: SubscribeOptions::default().max(1),
            })
            .await
            .map_err(|_| Error::new(ErrorKind::Closed))??;
        if let Err(e) = self.writer.publish(
            &req.subject,
            Some(&reply),
            req.options.headers.as_ref(),
            &req.payload,
        ) {
            handle
                .unsubscribe
                .do_send(crate::messages::Unsubscribe { max: None });
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(msg)) if msg.status() == Some(StatusCode::NO_RESPONDERS) => {
                Err(Error::new(ErrorKind::NoResponders))
            }
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(_)) => Err(handle
                .shared
                .end_reason()
                .unwrap_or_else(|| Error::new(ErrorKind::Closed))),
            Err(_) => {
                handle
                    .unsubscribe
                    .do_send(crate::messages::Unsubscribe { max: None });
                Err(Error::new(ErrorKind::TimedOut))
            }
        }
    }

    /// The token of one of our reply subjects.
    fn token_of(&self, reply: &str) -> Option<u64> {
        reply
            .strip_prefix(self.prefix.as_str())
            .and_then(|t| t.strip_prefix('.'))
            .and_then(|t| t.parse::<u64>().ok())
    }

    /// Routes a reply (called by the Connection as it reads).
    fn resolve(&self, msg: Msg) {
        let Some(token) = self.token_of(&msg.subject) else {
            return;
        };
        let Some(w) = self.lock().remove(&token) else {
            return;
        };
        let res = if msg.status() == Some(StatusCode::NO_RESPONDERS) {
            Err(Error::new(ErrorKind::NoResponders))
        } else {
            Ok(msg)
        };
        let _ = w.tx.send(res);
    }

    pub(crate) fn pending(&self) -> usize {
        self.lock().len()
    }
}

/// The RequestMux actor. Send it [`Request`]; [`Client::request`](crate::Client::request)
/// uses the same table without a message.
pub struct RequestMux {
    _live: crate::stats::LiveActor,
    shared: Arc<MuxShared>,
    opts: Arc<ConnectOptions>,
}

impl std::fmt::Debug for RequestMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMux")
            .field("prefix", &self.shared.prefix)
            .field("waiters", &self.shared.pending())
            .finish()
    }
}

impl RequestMux {
    pub(crate) fn new(
        conn: Addr<Connection>,
        writer: Arc<Writer>,
        opts: Arc<ConnectOptions>,
    ) -> RequestMux {
        let id = match opts.rng_seed {
            Some(seed) => crate::nuid::Nuid::with_seed(seed).next(),
            None => crate::nuid::next(),
        };
        let prefix = format!("{}.{}", opts.inbox_prefix, id);
        let seeded = opts.rng_seed.map(|seed| {
            Mutex::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(
                seed ^ 0x6d75_7865_7200_0000,
            ))
        });
        RequestMux {
            _live: crate::stats::LiveActor::new(),
            shared: Arc::new(MuxShared {
                prefix,
                waiters: Mutex::new(HashMap::new()),
                seeded,
                ready: OnceCell::new(),
                conn,
                writer,
            }),
            opts,
        }
    }

    pub(crate) fn shared(&self) -> Arc<MuxShared> {
        self.shared.clone()
    }
}

impl Actor for RequestMux {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
    }
}

impl Handler<Request> for RequestMux {
    type Result = ResponseFuture<Result<Msg, Error>>;

    fn handle(&mut self, req: Request, _: &mut Context<Self>) -> Self::Result {
        let shared = self.shared.clone();
        let timeout = req.options.timeout.unwrap_or(self.opts.request_timeout);
        if req.options.no_mux {
            let prefix = self.opts.inbox_prefix.clone();
            return Box::pin(async move { shared.request_no_mux(req, timeout, &prefix).await });
        }
        Box::pin(async move {
            shared.ensure_subscribed().await?;
            let (tx, rx) = oneshot::channel();
            let token = shared.start(&req, tx)?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(res) => res.map_err(|_| Error::new(ErrorKind::Closed))?,
                Err(_) => {
                    shared.cancel(token);
                    Err(Error::new(ErrorKind::TimedOut))
                }
            }
        })
    }
}

/// The server denied a publish: fail the requests to that subject.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PublishDenied {
    pub(crate) subject: String,
    /// The denied subject is the reply subject (`Publish with Reply of`):
    /// only the request that used that reply fails.
    pub(crate) reply: bool,
    pub(crate) error: Error,
}

impl Handler<PublishDenied> for RequestMux {
    type Result = ();
    fn handle(&mut self, msg: PublishDenied, _: &mut Context<Self>) {
        if msg.reply {
            if let Some(token) = self.shared.token_of(&msg.subject) {
                self.shared.fail(token, msg.error);
            }
            return;
        }
        let tokens: Vec<u64> = self
            .shared
            .lock()
            .iter()
            .filter(|(_, w)| w.subject.as_str() == msg.subject)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            self.shared.fail(t, msg.error.clone());
        }
    }
}

/// The connection closed: fail every request and stop.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

impl Handler<Shutdown> for RequestMux {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let waiters: Vec<Waiter> = self.shared.lock().drain().map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.tx.send(Err(Error::new(ErrorKind::Closed)));
        }
        ctx.stop();
    }
}
