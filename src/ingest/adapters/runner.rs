//! The one websocket client loop every adapter runs: prepare the endpoint
//! (bootstrap calls), connect, send the opening packets (auth), heartbeat,
//! decode, dedup, hand the items on, reconnect with backoff and jitter.
//!
//! Backpressure: items go into a bounded channel, awaited; while it is
//! full the loop stops reading the socket (a writer task keeps the
//! heartbeats going), so nothing is dropped. Replies a frame asks for
//! (Douyin's ack) are sent only after the frame's events are buffered.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::backoff::Backoff;
use super::dedup::Dedup;
use super::{AdapterItem, ConnectionState, PlatformEvent};

/// Where and how to connect, as a protocol's bootstrap resolved it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    /// Extra request headers (cookies, user agent).
    pub headers: Vec<(String, String)>,
    /// Sent at once after the handshake (Bilibili's auth packet).
    pub opening: Vec<Message>,
    /// A heartbeat and its period.
    pub heartbeat: Option<(Duration, Message)>,
    /// Connected only once a frame says so (an auth reply); else on open.
    pub awaits_auth: bool,
}

/// What one received frame amounts to.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<PlatformEvent>,
    /// To send once `events` are buffered (acks).
    pub replies: Vec<Message>,
    /// The server accepted the connection (auth reply code 0).
    pub authenticated: bool,
    /// End this connection with this reason (auth refused, stream closed).
    pub close: Option<String>,
    /// Bad parts of the frame, logged and skipped.
    pub errors: Vec<String>,
    /// Parts with nothing for the room (commands not used), for debug logs.
    pub ignored: Vec<String>,
}

/// A platform protocol: its bootstrap and its frame decoder.
pub trait Protocol: Send + 'static {
    fn name(&self) -> &'static str;
    /// Resolve the endpoint (bootstrap HTTP calls, signed starts). Called
    /// before every connection attempt.
    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>>;
    /// Decode one received frame.
    fn decode(&mut self, message: &Message) -> Step;
    /// Called once when the runner stops for good (the open platform's `end`).
    fn finish(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub backoff: Backoff,
    pub connect_timeout: Duration,
    /// No frame for this long: the connection is considered dead.
    pub idle_timeout: Duration,
    /// Without an id, the same content within this window is a duplicate.
    pub content_window_ms: u64,
    /// Stop after this many connections (tests and benches); `None`: forever.
    pub max_connections: Option<u32>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(70),
            content_window_ms: 10_000,
            max_connections: None,
        }
    }
}

/// Counters of a runner, returned when it stops.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunnerStats {
    pub connections: u32,
    pub frames: u64,
    pub bad_frames: u64,
    pub events: u64,
    pub duplicates: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Run `protocol` until `shutdown` turns true, the receiver of `items` is
/// dropped, or `max_connections` were made.
pub async fn run(
    mut protocol: impl Protocol,
    options: RunnerOptions,
    items: mpsc::Sender<AdapterItem>,
    mut shutdown: watch::Receiver<bool>,
) -> RunnerStats {
    let mut stats = RunnerStats::default();
    let mut dedup = Dedup::new(options.content_window_ms);
    let mut backoff = options.backoff.clone();
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    let name = protocol.name();
    loop {
        if *shutdown.borrow() || items.is_closed() {
            break;
        }
        if options.max_connections.is_some_and(|max| stats.connections >= max) {
            break;
        }
        let started = Instant::now();
        let outcome = connect_once(&mut protocol, &options, &items, &mut shutdown, &mut dedup, &mut stats).await;
        stats.duplicates = dedup.duplicates;
        let reason = match outcome {
            Outcome::Shutdown => break,
            Outcome::Lost(reason) => reason,
        };
        let delay = backoff.next_delay(started.elapsed(), &mut rng);
        tracing::warn!(adapter = name, %reason, retry_in_ms = delay.as_millis() as u64, "adapter connection lost");
        let lost = ConnectionState::Lost { reason, retry_in_ms: delay.as_millis() as u64 };
        if items.send(AdapterItem::Connection(lost)).await.is_err() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => {}
        }
    }
    protocol.finish().await;
    stats.duplicates = dedup.duplicates;
    stats
}

enum Outcome {
    Shutdown,
    Lost(String),
}

async fn connect_once(
    protocol: &mut impl Protocol,
    options: &RunnerOptions,
    items: &mpsc::Sender<AdapterItem>,
    shutdown: &mut watch::Receiver<bool>,
    dedup: &mut Dedup,
    stats: &mut RunnerStats,
) -> Outcome {
    let name = protocol.name();
    let endpoint = match protocol.prepare().await {
        Ok(endpoint) => endpoint,
        Err(e) => return Outcome::Lost(format!("bootstrap failed: {e:#}")),
    };
    let mut request = match endpoint.url.as_str().into_client_request() {
        Ok(request) => request,
        Err(e) => return Outcome::Lost(format!("bad websocket url {}: {e}", endpoint.url)),
    };
    for (key, value) in &endpoint.headers {
        match (key.parse::<tokio_tungstenite::tungstenite::http::HeaderName>(), value.parse()) {
            (Ok(key), Ok(value)) => {
                request.headers_mut().insert(key, value);
            }
            _ => tracing::warn!(adapter = name, header = %key, "skipped a header that is not valid in a request"),
        }
    }
    stats.connections += 1;
    let connected = tokio::time::timeout(options.connect_timeout, tokio_tungstenite::connect_async(request)).await;
    let socket = match connected {
        Err(_) => return Outcome::Lost(format!("connect timed out after {:?}", options.connect_timeout)),
        Ok(Err(e)) => return Outcome::Lost(format!("connect failed: {e}")),
        Ok(Ok((socket, _response))) => socket,
    };
    let (mut sink, mut stream) = socket.split();
    for message in endpoint.opening.clone() {
        if let Err(e) = sink.send(message).await {
            return Outcome::Lost(format!("sending the opening packet failed: {e}"));
        }
    }
    // the writer: heartbeats on their period, and replies in order
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let heartbeat = endpoint.heartbeat.clone();
    let writer = tokio::spawn(async move {
        let (period, beat) = match heartbeat {
            Some((period, beat)) => (period, Some(beat)),
            None => (Duration::from_secs(3600), None),
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            let message = tokio::select! {
                _ = ticker.tick() => match &beat { Some(beat) => beat.clone(), None => continue },
                next = out_rx.recv() => match next { Some(message) => message, None => break },
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut announced = false;
    if !endpoint.awaits_auth {
        announced = true;
        if items
            .send(AdapterItem::Connection(ConnectionState::Connected { endpoint: endpoint.url.clone() }))
            .await
            .is_err()
        {
            writer.abort();
            return Outcome::Shutdown;
        }
    }
    let outcome = loop {
        let next = tokio::select! {
            next = tokio::time::timeout(options.idle_timeout, stream.next()) => next,
            _ = shutdown.changed() => break Outcome::Shutdown,
        };
        let message = match next {
            Err(_) => break Outcome::Lost(format!("no frame for {:?}", options.idle_timeout)),
            Ok(None) => break Outcome::Lost("the server closed the connection".into()),
            Ok(Some(Err(e))) => break Outcome::Lost(format!("websocket error: {e}")),
            Ok(Some(Ok(message))) => message,
        };
        if let Message::Close(frame) = &message {
            break Outcome::Lost(format!("the server closed the connection ({frame:?})"));
        }
        if matches!(message, Message::Ping(_) | Message::Pong(_)) {
            continue;
        }
        stats.frames += 1;
        let step = protocol.decode(&message);
        if !step.errors.is_empty() {
            stats.bad_frames += 1;
            for reason in &step.errors {
                tracing::warn!(adapter = name, %reason, bytes = message.len(), "skipped a bad frame");
            }
        }
        for ignored in &step.ignored {
            tracing::debug!(adapter = name, what = %ignored, "nothing for the room");
        }
        if step.authenticated && !announced {
            announced = true;
            let state = ConnectionState::Connected { endpoint: endpoint.url.clone() };
            if items.send(AdapterItem::Connection(state)).await.is_err() {
                break Outcome::Shutdown;
            }
        }
        let mut receiver_gone = false;
        for event in step.events {
            if !dedup.admit(&event, now_ms()) {
                continue;
            }
            stats.events += 1;
            // a full channel waits here: the socket is not read meanwhile
            if items.send(AdapterItem::Event(event)).await.is_err() {
                receiver_gone = true;
                break;
            }
        }
        if receiver_gone {
            break Outcome::Shutdown;
        }
        for reply in step.replies {
            if out_tx.send(reply).await.is_err() {
                break;
            }
        }
        if let Some(reason) = step.close {
            break Outcome::Lost(reason);
        }
    };
    drop(out_tx);
    // let the writer close the socket, briefly
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_millis(500), writer).await.is_err() {
        abort.abort();
        tracing::debug!(adapter = name, "the websocket writer did not stop in time");
    }
    outcome
}
