//! The standalone feeder (`liveroom connect PLATFORM`): an adapter's items
//! mapped onto ingest events and posted in batches to a node's
//! `POST /api/rooms/{room}/events`, each batch retried until the node
//! acknowledges it (durable). Every event travels with an id (the
//! platform's, or a delivery id the feeder gives it), so a batch retried
//! after a timeout is acknowledged as duplicates, not logged twice.
//!
//! Backpressure: while a batch waits for its acknowledgement the feeder
//! reads nothing more from the adapter's bounded channel, so the adapter
//! stops reading its socket. Unmapped kinds are counted and logged.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use super::runner::{self, Protocol, RunnerOptions, RunnerStats};
use super::wire::{self, Mapped};
use super::{AdapterItem, ConnectionState};

#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// The node's room to feed.
    #[arg(long)]
    pub room: String,
    /// The node's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Sent as `Authorization: Bearer <key>`.
    #[arg(long, env = "LIVEROOM_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Most ingest events per request.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Adapter items buffered before the adapter stops reading its socket.
    #[arg(long, default_value_t = 2000)]
    pub buffer: usize,
    /// Seconds without a frame before a connection counts as dead.
    #[arg(long, default_value_t = 70)]
    pub idle_timeout_secs: u64,
    /// Longest reconnect delay, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub max_backoff_ms: u64,
    /// Stop after this many platform connections (for tests).
    #[arg(long, hide = true)]
    pub max_connections: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Bilibili live danmaku, web protocol.
    Bilibili {
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        platform: super::bilibili::BilibiliArgs,
    },
    /// Bilibili open platform (signed start/heartbeat/end).
    BilibiliOpen {
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        platform: super::bilibili_open::BilibiliOpenArgs,
    },
    /// Douyin webcast push server (signed URL and cookies from the operator).
    Douyin {
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        platform: super::douyin::DouyinArgs,
    },
    /// The BarrageGrab JSON bridge.
    Barragegrab {
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        platform: super::barragegrab::BarrageGrabArgs,
    },
    /// Any JSON websocket feed, with a field mapping.
    Generic {
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        platform: super::generic::GenericArgs,
    },
}

/// Where the feeder posts, and how.
#[derive(Debug, Clone)]
pub struct FeederOptions {
    pub node: String,
    pub room: String,
    pub key: Option<String>,
    pub batch: usize,
    pub backoff: Backoff,
    /// A run id in delivery ids, so two runs never share one.
    pub run_id: String,
}

impl FeederOptions {
    pub fn new(node: &str, room: &str, key: Option<String>) -> FeederOptions {
        FeederOptions {
            node: node.trim_end_matches('/').to_string(),
            room: room.to_string(),
            key,
            batch: 200,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10), Duration::from_secs(30)),
            run_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        }
    }
}

/// What a feeder did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FeederStats {
    /// Platform events taken from the adapter.
    pub events: u64,
    /// Ingest events the node acknowledged as new.
    pub accepted: u64,
    /// Ingest events the node acknowledged as already logged.
    pub duplicates: u64,
    /// Events with no ingest type, by kind.
    pub unmapped: BTreeMap<String, u64>,
    /// Events the node refused (logged with the node's reason).
    pub refused: u64,
    pub requests: u64,
    pub retries: u64,
    pub connected: u64,
    pub lost: u64,
    /// Ingest events never acknowledged (the node stayed unreachable past shutdown).
    pub unsent: u64,
}

/// Post the adapter's items to the node until the channel closes (the
/// adapter stopped). On `shutdown`, a node that does not answer is given
/// up on after `drain_timeout`.
pub async fn feed(
    mut items: mpsc::Receiver<AdapterItem>,
    options: FeederOptions,
    shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> anyhow::Result<FeederStats> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
    let url = format!("{}/api/rooms/{}/events", options.node, options.room);
    let mut stats = FeederStats::default();
    let mut delivery = 0u64;
    loop {
        let Some(first) = items.recv().await else { break };
        let mut batch: Vec<Value> = Vec::new();
        let mut take = |item: AdapterItem, batch: &mut Vec<Value>, stats: &mut FeederStats| match item {
            AdapterItem::Event(event) => {
                stats.events += 1;
                let id = event.msg_id.clone().unwrap_or_else(|| {
                    delivery += 1;
                    format!("lr-{}-{delivery}", options.run_id)
                });
                match wire::map_event(&event, &id) {
                    Mapped::Events(events) => batch.extend(events),
                    Mapped::Unmapped(kind) => {
                        *stats.unmapped.entry(kind.to_string()).or_default() += 1;
                        tracing::info!(kind, event = %serde_json::to_string(&event.kind).unwrap_or_default(), "platform event without an ingest type, not sent");
                    }
                }
            }
            AdapterItem::Connection(state) => match state {
                ConnectionState::Connected { endpoint } => {
                    stats.connected += 1;
                    tracing::info!(%endpoint, "source connected");
                }
                ConnectionState::Lost { reason, retry_in_ms } => {
                    stats.lost += 1;
                    tracing::warn!(%reason, retry_in_ms, "source lost");
                }
            },
        };
        take(first, &mut batch, &mut stats);
        while batch.len() < options.batch {
            match items.try_recv() {
                Ok(item) => take(item, &mut batch, &mut stats),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        post_until_acknowledged(&http, &url, &options, batch, &mut stats, &shutdown, drain_timeout).await?;
    }
    Ok(stats)
}

/// Errors of the node that no retry fixes.
fn is_fatal(status: u16, code: &str) -> bool {
    matches!(status, 401 | 403 | 404) || code == "session_ended" || code == "room_leased_elsewhere"
}

async fn post_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    options: &FeederOptions,
    mut batch: Vec<Value>,
    stats: &mut FeederStats,
    shutdown: &watch::Receiver<bool>,
    drain_timeout: Duration,
) -> anyhow::Result<()> {
    let mut backoff = options.backoff.clone();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_os_rng();
    let mut failing_since: Option<std::time::Instant> = None;
    while !batch.is_empty() {
        stats.requests += 1;
        let mut request = http.post(url).json(&Value::Array(batch.clone()));
        if let Some(key) = &options.key {
            request = request.bearer_auth(key);
        }
        let failure = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status == 200 {
                    stats.accepted += body["accepted"].as_u64().unwrap_or(0);
                    stats.duplicates += body["duplicates"].as_u64().unwrap_or(0);
                    return Ok(());
                }
                let code = body["code"].as_str().unwrap_or("").to_string();
                if is_fatal(status, &code) {
                    anyhow::bail!("the node refused the feed: HTTP {status} {code}: {}", body["message"]);
                }
                if (400..500).contains(&status) && status != 429 {
                    // one bad event refuses the batch: leave it out, with its reason, and send the rest
                    let index = body["index"].as_u64().map(|i| i as usize).filter(|i| *i < batch.len());
                    let Some(index) = index else {
                        stats.refused += batch.len() as u64;
                        tracing::error!(status, %code, message = %body["message"], events = batch.len(), "the node refused a batch");
                        return Ok(());
                    };
                    let event = batch.remove(index);
                    stats.refused += 1;
                    tracing::error!(status, %code, message = %body["message"], %event, "the node refused an event");
                    continue;
                }
                format!("HTTP {status} {code}")
            }
            Err(e) => format!("{e}"),
        };
        let since = *failing_since.get_or_insert_with(std::time::Instant::now);
        if *shutdown.borrow() && since.elapsed() > drain_timeout {
            stats.unsent += batch.len() as u64;
            tracing::error!(events = batch.len(), "shutting down with a batch the node never acknowledged");
            return Ok(());
        }
        stats.retries += 1;
        let delay = backoff.next_delay(Duration::ZERO, &mut rng);
        tracing::warn!(%failure, retry_in_ms = delay.as_millis() as u64, "posting to the node failed; retrying the batch");
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

/// Run one adapter into a node until Ctrl-C (or `max_connections`).
pub async fn run_adapter(
    protocol: impl Protocol,
    feed_args: &FeedArgs,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(RunnerStats, FeederStats)> {
    let (tx, rx) = mpsc::channel(feed_args.buffer.max(1));
    let runner_options = RunnerOptions {
        backoff: Backoff::new(
            Duration::from_millis(500.min(feed_args.max_backoff_ms)),
            Duration::from_millis(feed_args.max_backoff_ms),
            Duration::from_secs(60),
        ),
        idle_timeout: Duration::from_secs(feed_args.idle_timeout_secs.max(1)),
        max_connections: feed_args.max_connections,
        ..RunnerOptions::default()
    };
    let mut options = FeederOptions::new(&feed_args.node, &feed_args.room, feed_args.key.clone());
    options.batch = feed_args.batch.clamp(1, crate::ingest::MAX_BATCH);
    let runner = tokio::spawn(runner::run(protocol, runner_options, tx, shutdown.clone()));
    let fed = feed(rx, options, shutdown, Duration::from_secs(10)).await;
    // the feeder stops early only on a fatal refusal: stop the adapter too
    runner.abort();
    let runner_stats = runner.await.unwrap_or_default();
    Ok((runner_stats, fed?))
}

/// `liveroom connect PLATFORM ...`
pub async fn run_connect(command: ConnectCommand) -> anyhow::Result<ExitCode> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match terminate.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    let (platform, result) = match command {
        ConnectCommand::Bilibili { feed, platform } => {
            ("bilibili", run_adapter(super::bilibili::BilibiliWeb::new(platform), &feed, stop_rx).await)
        }
        ConnectCommand::BilibiliOpen { feed, platform } => {
            ("bilibili-open", run_adapter(super::bilibili_open::BilibiliOpen::new(platform), &feed, stop_rx).await)
        }
        ConnectCommand::Douyin { feed, platform } => {
            platform.url()?;
            ("douyin", run_adapter(super::douyin::Douyin::new(platform), &feed, stop_rx).await)
        }
        ConnectCommand::Barragegrab { feed, platform } => {
            ("barragegrab", run_adapter(super::barragegrab::BarrageGrab::new(platform), &feed, stop_rx).await)
        }
        ConnectCommand::Generic { feed, platform } => {
            ("generic", run_adapter(super::generic::GenericFeed::new(platform)?, &feed, stop_rx).await)
        }
    };
    let (runner, fed) = result?;
    println!(
        "connect {platform}: {} connections, {} frames ({} bad), {} events, {} duplicates dropped; node accepted {}, duplicates {}, refused {}, unmapped {:?}, unsent {}",
        runner.connections,
        runner.frames,
        runner.bad_frames,
        runner.events,
        runner.duplicates,
        fed.accepted,
        fed.duplicates,
        fed.refused,
        fed.unmapped,
        fed.unsent
    );
    println!("{}", json!({"platform": platform, "runner": runner, "feeder": fed}));
    Ok(if fed.unsent == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
