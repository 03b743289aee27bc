//! The RequestMux actor: every request shares one wildcard inbox
//! subscription, `<inbox_prefix>.<nuid>.*`; a map from token to waiter
//! routes each reply. A 503 status becomes `NoResponders`, a publish
//! permission violation fails the matching requests, a timeout fails the
//! request, and a caller that gives up removes its waiter.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::connection::Connection;
use crate::headers::StatusCode;
use crate::messages::{Delivery, Request, Subscribe, SubscribeOptions};
use crate::options::ConnectOptions;
use crate::writer::Writer;
use crate::{Error, ErrorKind, Msg, Subject};

struct Waiter {
    subject: Subject,
    tx: oneshot::Sender<Result<Msg, Error>>,
    timer: SpawnHandle,
}

/// The RequestMux actor. Send it [`Request`]; [`Client::request`](crate::Client::request)
/// does.
pub struct RequestMux {
    conn: Addr<Connection>,
    writer: Arc<Writer>,
    opts: Arc<ConnectOptions>,
    prefix: String,
    subscribed: bool,
    waiters: HashMap<String, Waiter>,
    next_token: u64,
}

impl std::fmt::Debug for RequestMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMux")
            .field("prefix", &self.prefix)
            .field("waiters", &self.waiters.len())
            .finish()
    }
}

impl RequestMux {
    pub(crate) fn new(
        conn: Addr<Connection>,
        writer: Arc<Writer>,
        opts: Arc<ConnectOptions>,
    ) -> RequestMux {
        let prefix = format!("{}.{}", opts.inbox_prefix, crate::nuid::next());
        RequestMux {
            conn,
            writer,
            opts,
            prefix,
            subscribed: false,
            waiters: HashMap::new(),
            next_token: 0,
        }
    }

    /// Starts a request: subscribes the inbox first if needed (the mailbox
    /// waits until the SUB is queued ahead of the request), then registers
    /// a waiter and publishes. Returns the token.
    fn begin(
        &mut self,
        req: Request,
        tx: oneshot::Sender<Result<Msg, Error>>,
        ctx: &mut Context<Self>,
    ) -> String {
        self.next_token += 1;
        let token = self.next_token.to_string();
        if self.subscribed {
            self.start(token.clone(), req, tx, ctx);
            return token;
        }
        self.subscribed = true;
        let subscribe = self.conn.send(Subscribe {
            subject: Subject::from(format!("{}.*", self.prefix)),
            delivery: Delivery::Actor(ctx.address().recipient()),
            options: SubscribeOptions::default().pending_limits(usize::MAX, usize::MAX),
        });
        let t = token.clone();
        ctx.wait(subscribe.into_actor(self).map(move |res, act, ctx| {
            match res.map_err(Error::from).and_then(|r| r) {
                Ok(_) => act.start(t, req, tx, ctx),
                Err(e) => {
                    act.subscribed = false;
                    let _ = tx.send(Err(e));
                }
            }
        }));
        token
    }

    /// Registers a waiter and publishes the request.
    fn start(
        &mut self,
        token: String,
        req: Request,
        tx: oneshot::Sender<Result<Msg, Error>>,
        ctx: &mut Context<Self>,
    ) {
        let timeout = req.options.timeout.unwrap_or(self.opts.request_timeout);
        let t = token.clone();
        let timer = ctx.run_later(timeout, move |act, _| {
            if let Some(w) = act.waiters.remove(&t) {
                let _ = w.tx.send(Err(Error::new(ErrorKind::TimedOut)));
            }
        });
        self.waiters.insert(
            token.clone(),
            Waiter {
                subject: req.subject.clone(),
                tx,
                timer,
            },
        );
        let reply = format!("{}.{}", self.prefix, token);
        if let Err(e) = self.writer.publish(
            &req.subject,
            Some(&reply),
            req.options.headers.as_ref(),
            &req.payload,
        ) {
            self.finish(&token, Err(e), ctx);
        }
    }

    fn finish(&mut self, token: &str, res: Result<Msg, Error>, ctx: &mut Context<Self>) {
        if let Some(w) = self.waiters.remove(token) {
            ctx.cancel_future(w.timer);
            let _ = w.tx.send(res);
        }
    }
}

impl Actor for RequestMux {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
    }
}

impl Handler<Msg> for RequestMux {
    type Result = ();

    fn handle(&mut self, msg: Msg, ctx: &mut Context<Self>) {
        let Some(token) = msg
            .subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|t| t.strip_prefix('.'))
            .map(str::to_string)
        else {
            return;
        };
        let res = if msg.status() == Some(StatusCode::NO_RESPONDERS) {
            Err(Error::new(ErrorKind::NoResponders))
        } else {
            Ok(msg)
        };
        self.finish(&token, res, ctx);
    }
}

impl Handler<Request> for RequestMux {
    type Result = ResponseFuture<Result<Msg, Error>>;

    fn handle(&mut self, req: Request, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.begin(req, tx, ctx);
        Box::pin(async move { rx.await.map_err(|_| Error::new(ErrorKind::Closed))? })
    }
}

/// Starts a request whose caller can cancel it (from [`Client`](crate::Client)).
#[derive(Message)]
#[rtype(result = "String")]
pub(crate) struct StartRequest(
    pub(crate) Request,
    pub(crate) oneshot::Sender<Result<Msg, Error>>,
);

impl Handler<StartRequest> for RequestMux {
    type Result = String;

    fn handle(&mut self, StartRequest(req, tx): StartRequest, ctx: &mut Context<Self>) -> String {
        self.begin(req, tx, ctx)
    }
}

/// The caller gave up: forget the waiter.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct CancelRequest(pub(crate) String);

impl Handler<CancelRequest> for RequestMux {
    type Result = ();

    fn handle(&mut self, CancelRequest(token): CancelRequest, ctx: &mut Context<Self>) {
        if let Some(w) = self.waiters.remove(&token) {
            ctx.cancel_future(w.timer);
        }
    }
}

/// How many requests are waiting (for tests of leaks).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub(crate) struct PendingRequests;

impl Handler<PendingRequests> for RequestMux {
    type Result = usize;
    fn handle(&mut self, _: PendingRequests, _: &mut Context<Self>) -> usize {
        self.waiters.len()
    }
}

/// The server denied a publish: fail the requests to that subject.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct PublishDenied {
    pub(crate) subject: String,
    pub(crate) error: Error,
}

impl Handler<PublishDenied> for RequestMux {
    type Result = ();
    fn handle(&mut self, msg: PublishDenied, ctx: &mut Context<Self>) {
        let tokens: Vec<String> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.subject.as_str() == msg.subject)
            .map(|(t, _)| t.clone())
            .collect();
        for t in tokens {
            self.finish(&t, Err(msg.error.clone()), ctx);
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
        for (_, w) in self.waiters.drain() {
            let _ = w.tx.send(Err(Error::new(ErrorKind::Closed)));
        }
        ctx.stop();
    }
}
