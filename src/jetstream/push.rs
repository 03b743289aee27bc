//! Push consumers: the server delivers to a subject; flow control and
//! stalled-consumer heartbeats are answered here, so the consumer never
//! stalls; a queue group shares the work (`deliver_group`).

use super::Context;
use super::consumer::{ConsumerConfig, ConsumerInfo};
use super::message::JsMsg;
use crate::headers::StatusCode;
use crate::messages::SubscribeOptions;
use crate::{Client, Error, Subject, Subscriber};

/// Messages of a push consumer. Get one from [`Context::push_subscribe`].
#[derive(Debug)]
pub struct PushSubscriber {
    sub: Subscriber,
    client: Client,
    info: ConsumerInfo,
}

impl Context {
    /// Subscribes to a push consumer's deliver subject (a new inbox when
    /// the config has none; the `deliver_group` as queue group), then
    /// creates the consumer (or binds to the identical existing one).
    /// Flow control (`flow_control: true`) and idle heartbeats
    /// (`idle_heartbeat`) are answered as they arrive.
    ///
    /// # Errors
    ///
    /// The subscription's and the consumer creation's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(js: nats_actix::jetstream::Context) -> nats_actix::Result<()> {
    /// use std::time::Duration;
    /// use nats_actix::jetstream::ConsumerConfig;
    /// let mut cfg = ConsumerConfig::durable("audit");
    /// cfg.flow_control = true;
    /// cfg.idle_heartbeat = Duration::from_secs(5);
    /// let mut push = js.push_subscribe("ORDERS", cfg).await?;
    /// while let Some(m) = push.next().await {
    ///     m.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn push_subscribe(
        &self,
        stream: &str,
        mut config: ConsumerConfig,
    ) -> Result<PushSubscriber, Error> {
        let deliver = config
            .deliver_subject
            .clone()
            .unwrap_or_else(|| self.client().new_inbox());
        config.deliver_subject = Some(deliver.clone());
        let mut opts = SubscribeOptions::default();
        if let Some(group) = &config.deliver_group {
            opts = opts.queue(group.clone());
        }
        let sub = self
            .client()
            .subscribe_with(Subject::from(deliver), opts)
            .await?;
        let info = self.create_consumer(stream, config).await?;
        Ok(PushSubscriber {
            sub,
            client: self.client().clone(),
            info,
        })
    }
}

impl PushSubscriber {
    /// The consumer as created.
    pub fn info(&self) -> &ConsumerInfo {
        &self.info
    }

    /// The next message; flow-control requests and stalled heartbeats are
    /// answered on the way. With `idle_heartbeat` set, a silence of two
    /// heartbeats is reported (an `Error` event of the client, kind
    /// `JetStream`) and the wait goes on. `None` when the subscription
    /// ended.
    pub async fn next(&mut self) -> Option<JsMsg> {
        let hb = self.info.config.idle_heartbeat;
        loop {
            let m = if hb.is_zero() {
                self.sub.next_msg().await?
            } else {
                match tokio::time::timeout(hb * 2, self.sub.next_msg()).await {
                    Ok(m) => m?,
                    Err(_) => {
                        self.client.emit_event(crate::Event::Error(Error::with_source(
                            crate::ErrorKind::JetStream,
                            format!(
                                "missed idle heartbeats on push consumer {} > {} (nothing for {:?})",
                                self.info.stream_name,
                                self.info.name,
                                hb * 2
                            ),
                        )));
                        continue;
                    }
                }
            };
            match m.status() {
                None => return Some(JsMsg::new(m, self.client.clone())),
                Some(StatusCode::IDLE_HEARTBEAT) => {
                    // A flow-control request carries a reply subject; a
                    // heartbeat of a stalled consumer names where to
                    // answer in `Nats-Consumer-Stalled`.
                    if let Some(reply) = &m.reply {
                        let _ = self.client.publish(reply.to_string(), "").await;
                    }
                    if let Some(stalled) = m
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Consumer-Stalled"))
                    {
                        let _ = self.client.publish(stalled.to_string(), "").await;
                    }
                }
                Some(_) => {}
            }
        }
    }
}
