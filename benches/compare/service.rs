//! The `svc` scenario: request/reply through a Service API (ADR-32)
//! endpoint. One responder service per client on its own connection (ours
//! handled by an actor answering by its result, async-nats's `service`
//! endpoint answered in a task), 64 requests in flight from a separate
//! requester connection, the same subject; throughput and the p50 of each
//! request's round trip, interleaved runs, medians.

use super::*;

use actix::prelude::*;
use nats_actix::service::{EndpointConfig, ServiceReply, ServiceRequest};

const SUBJECT: &str = "bench.svc";

/// Per-request round trips (ns) and the elapsed time.
type Sample = (Vec<u64>, Duration);

/// Runs `inflight` requesters of `per` requests each, timing each request.
macro_rules! drive {
    ($requester:expr, $subject:expr, $payload:expr, $inflight:expr, $per:expr, $err:ty) => {{
        let start = Instant::now();
        let tasks: Vec<_> = (0..$inflight)
            .map(|_| {
                let c = $requester.clone();
                let subject = $subject.clone();
                let payload = $payload.clone();
                actix_rt::spawn(async move {
                    let mut lat = Vec::with_capacity($per);
                    for _ in 0..$per {
                        let t = Instant::now();
                        c.request(subject.clone(), payload.clone()).await?;
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                    Ok::<_, $err>(lat)
                })
            })
            .collect();
        let mut all = Vec::with_capacity($inflight * $per);
        for t in tasks {
            all.extend(t.await??);
        }
        (all, start.elapsed())
    }};
}

/// Echoes the request by its result.
struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<ServiceRequest> for Echo {
    type Result = ServiceReply;
    fn handle(&mut self, req: ServiceRequest, _: &mut Context<Self>) -> ServiceReply {
        let body = req.payload().clone();
        req.reply(Ok(body))
    }
}

async fn actix_svc(url: &str, n: usize, inflight: usize, payload: Bytes) -> Res<Sample> {
    let replier = Client::connect(ConnectOptions::new().server(url)).await?;
    let requester = Client::connect(ConnectOptions::new().server(url)).await?;
    let svc = replier
        .service_builder()
        .name("bench")
        .version("1.0.0")
        .start()
        .await?;
    svc.add_endpoint(EndpointConfig::new("svc").subject(SUBJECT), Echo.start())
        .await?;
    let subject = Subject::from(SUBJECT);
    for _ in 0..inflight {
        requester.request(subject.clone(), payload.clone()).await?;
    }
    let per = n / inflight;
    let sample = drive!(
        requester,
        subject,
        payload,
        inflight,
        per,
        nats_actix::Error
    );
    svc.stop().await?;
    requester.close().await?;
    replier.close().await?;
    Ok(sample)
}

async fn async_svc(url: &str, n: usize, inflight: usize, payload: Bytes) -> Res<Sample> {
    use async_nats::service::ServiceExt;
    let replier = async_nats::connect(url).await?;
    let requester = async_nats::connect(url).await?;
    let svc = replier.service_builder().start("bench", "1.0.0").await?;
    let mut endpoint = svc.endpoint(SUBJECT).await?;
    let responder = actix_rt::spawn(async move {
        while let Some(req) = poll_fn(|cx| Pin::new(&mut endpoint).poll_next(cx)).await {
            let body = req.message.payload.clone();
            if req.respond(Ok(body)).await.is_err() {
                break;
            }
        }
    });
    replier.flush().await?;
    let subject = async_nats::Subject::from(SUBJECT);
    // async-nats's flush does not wait for the server: retry the first
    // request until the endpoint's interest is in.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match requester.request(subject.clone(), payload.clone()).await {
            Ok(_) => break,
            Err(e)
                if e.kind() == async_nats::RequestErrorKind::NoResponders
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for _ in 0..inflight {
        requester.request(subject.clone(), payload.clone()).await?;
    }
    let per = n / inflight;
    let sample = drive!(
        requester,
        subject,
        payload,
        inflight,
        per,
        async_nats::RequestError
    );
    responder.abort();
    drop(svc);
    Ok(sample)
}

/// The `svc` rows: `svc64 rate` and `svc64 p50` per size, goal
/// nats-actix / async-nats >= 1.2.
pub(crate) async fn run_svc(cfg: &Config) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    if !cfg.wants("svc") {
        return Ok(rows);
    }
    let server = start_server();
    let url = server.url.clone();
    let k = cfg.inflight;
    let n = (cfg.req64_count / k).max(1) * k;
    eprintln!(
        "service: {} at {url} | N={n} in flight={k} | runs={} (median), interleaved nats-actix, async-nats",
        server_version(),
        cfg.runs
    );
    let sizes = if std::env::var_os("BENCH_SIZES").is_some() {
        cfg.sizes.clone()
    } else {
        vec![16, 1024]
    };
    for &size in &sizes {
        let mut rate: [Vec<f64>; 2] = Default::default();
        let mut p50: [Vec<f64>; 2] = Default::default();
        for run in 0..cfg.runs {
            let a = actix_svc(&url, n, k, payload(size))
                .await
                .map_err(|e| format!("nats-actix svc: {e}"))?;
            let b = async_svc(&url, n, k, payload(size))
                .await
                .map_err(|e| format!("async-nats svc: {e}"))?;
            for (i, (mut lat, d)) in [a, b].into_iter().enumerate() {
                rate[i].push(lat.len() as f64 / d.as_secs_f64());
                lat.sort_unstable();
                p50[i].push(percentile_us(&lat, 0.5));
            }
            eprintln!(
                "svc x{k} {size:>5} B run {run}: actix {:>9.0}/s p50 {:>7.1} us  async-nats {:>9.0}/s p50 {:>7.1} us",
                rate[0][run], p50[0][run], rate[1][run], p50[1][run]
            );
        }
        let [a, b] = rate;
        let mut row = Row::new(
            &format!("svc{k} rate"),
            Some(size),
            Unit::Rate,
            n,
            median(a),
        );
        row.async_nats = Some(median(b));
        row.goal = Some(Goal::RatioAtLeast(1.2));
        row.note = "service endpoint: ours an actor, async-nats's answered in a task".into();
        rows.push(row);
        let [a, b] = p50;
        let mut row = Row::new(
            &format!("svc{k} p50"),
            Some(size),
            Unit::Micros,
            n,
            median(a),
        );
        row.async_nats = Some(median(b));
        row.goal = Some(Goal::RatioAtLeast(1.2));
        row.note = format!("round trip of each request with {k} in flight");
        rows.push(row);
    }
    drop(server);
    Ok(rows)
}
