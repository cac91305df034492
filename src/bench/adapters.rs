//! `liveroom bench adapters`: how fast each decoder takes frames apart
//! (frames and events per second, median of rounds), and comment -> logged
//! latency through the whole path: a fake Bilibili server sends danmaku
//! frames, the real client decodes them, the feeder posts them to an
//! in-process node (durable log, the keyword-rule triage by default), and
//! the time from the frame leaving the fake to the comment being in the
//! log (polled every 2 ms) is measured per comment.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::{median, percentile, round};
use crate::app::{Application, Settings, TriageMode};
use crate::cli::DbArgs;
use crate::db::Database;
use crate::events::Event;
use crate::ingest::adapters::backoff::Backoff;
use crate::ingest::adapters::bilibili::{self, BilibiliArgs, BilibiliWeb, commands::CommandState};
use crate::ingest::adapters::fake::{self, Action, FakeOptions, FakeServer, Flavor};
use crate::ingest::adapters::feeder::{self, FeederOptions};
use crate::ingest::adapters::runner::{self, RunnerOptions};
use crate::ingest::adapters::{barragegrab, bilibili_open, douyin, generic};

#[derive(Debug, Args, Clone)]
pub struct AdaptersBenchArgs {
    /// Rounds of each decoder measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Frames decoded per round and protocol.
    #[arg(long, default_value_t = 20_000)]
    pub frames: usize,
    /// Comments sent through the fake server into the node.
    #[arg(long, default_value_t = 2000)]
    pub comments: usize,
    /// Comments per second the fake server sends (one frame each).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// The node's comment triage.
    #[arg(long, value_enum, default_value = "rules")]
    pub triage: TriageMode,
    #[command(flatten)]
    pub db: DbArgs,
}

/// One protocol's sample frame and how to decode it.
struct Sample {
    name: &'static str,
    /// What the frame holds.
    what: &'static str,
    decode: Box<dyn FnMut() -> usize>,
}

fn samples() -> Vec<Sample> {
    let captured = include_bytes!("../../tests/data/fixtures/bilibili/buffer.packet").to_vec();
    let danmaku: Vec<Value> = (0..10).map(|i| fake::danmaku(i, "观众", "这个能煮粥吗", &format!("id{i}"))).collect();
    let Message::Binary(brotli) = fake::bilibili_messages(&danmaku) else { unreachable!("binary") };
    let open_bodies: Vec<Value> = (0..10)
        .map(|i| json!({"cmd": "LIVE_OPEN_PLATFORM_DM", "data": {"open_id": format!("o{i}"), "uname": "a", "msg": "多少钱", "msg_id": format!("m{i}")}}))
        .collect();
    let Message::Binary(open) = fake::bilibili_messages(&open_bodies) else { unreachable!("binary") };
    let chats = (0..10).map(|i| douyin::build::chat(i, i + 1, "观众", "这个能煮粥吗")).collect();
    let douyin_frame = douyin::build::frame(1, chats, true, "ext");
    let grab =
        json!({"Type": 1, "ProcessName": "直播伴侣", "Data": json!({"MsgId": 1, "User": {"Id": 7, "Nickname": "a"},
        "Content": "这个能煮粥吗", "Owner": {"UserId": "42"}}).to_string()})
        .to_string();
    let feed = Value::Array(
        (0..10).map(|i| json!({"type": "comment", "viewer_id": format!("u{i}"), "text": "这个能煮粥吗", "platform_msg_id": i})).collect(),
    )
    .to_string();
    let (brotli, open) = (brotli.to_vec(), open.to_vec());
    let mut douyin_decoder = douyin::DouyinDecoder::default();
    let filter = barragegrab::OwnerFilter { owner_id: Some("42".into()), owner_sec_uid: None };
    let mapping = generic::FeedMapping::default();
    vec![
        Sample {
            name: "bilibili_zlib_captured",
            what: "the captured zlib frame, 2 INTERACT_WORD",
            decode: Box::new(move || bilibili::decode_frame(&captured, &mut CommandState::default()).events.len()),
        },
        Sample {
            name: "bilibili_brotli",
            what: "brotli frame of 10 DANMU_MSG",
            decode: Box::new(move || bilibili::decode_frame(&brotli, &mut CommandState::default()).events.len()),
        },
        Sample {
            name: "bilibili_open",
            what: "brotli frame of 10 LIVE_OPEN_PLATFORM_DM",
            decode: Box::new(move || bilibili_open::decode_frame(&open).events.len()),
        },
        Sample {
            name: "douyin",
            what: "gzip PushFrame of 10 WebcastChatMessage, needAck",
            decode: Box::new(move || douyin_decoder.decode(&douyin_frame).events.len()),
        },
        Sample {
            name: "barragegrab",
            what: "one chat message",
            decode: Box::new(move || barragegrab::decode_message(&grab, &filter).ok().flatten().map_or(0, |_| 1)),
        },
        Sample {
            name: "generic",
            what: "array of 10 ingest comments",
            decode: Box::new(move || mapping.decode_frame(&feed).events.len()),
        },
    ]
}

pub async fn run(args: AdaptersBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds >= 1 && args.frames >= 1 && args.comments >= 1 && args.rate > 0.0,
        "counts must be at least 1"
    );
    println!(
        "bench adapters: decoders ({} frames x {} rounds each, median), then {} comments at {}/s through a fake bilibili server into a node",
        args.frames, args.rounds, args.comments, args.rate
    );
    let mut decode = BTreeMap::new();
    for mut sample in samples() {
        let mut per_second = Vec::new();
        let mut events_per_frame = 0;
        for _ in 0..args.rounds {
            let started = Instant::now();
            let mut events = 0;
            for _ in 0..args.frames {
                events += (sample.decode)();
            }
            per_second.push(args.frames as f64 / started.elapsed().as_secs_f64());
            events_per_frame = events / args.frames;
        }
        let frames_per_s = median(&per_second);
        println!(
            "decode {:<24} {:>10.0} frames/s  {:>10.0} events/s  ({})",
            sample.name,
            frames_per_s,
            frames_per_s * events_per_frame as f64,
            sample.what
        );
        decode.insert(
            sample.name,
            json!({"frames_per_s": round(frames_per_s, 0), "events_per_s": round(frames_per_s * events_per_frame as f64, 0)}),
        );
    }
    let latency = through_a_node(&args).await?;
    println!(
        "comment -> logged: {} sent, {} logged exactly once, {} lost, {} duplicated; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latency.sent, latency.logged, latency.lost, latency.duplicated, latency.p50_ms, latency.p99_ms, latency.max_ms
    );
    println!(
        "{}",
        json!({
            "decode": decode,
            "comments_sent": latency.sent,
            "comments_logged": latency.logged,
            "lost": latency.lost,
            "duplicated": latency.duplicated,
            "comment_to_logged_p50_ms": round(latency.p50_ms, 2),
            "comment_to_logged_p99_ms": round(latency.p99_ms, 2),
            "triage": format!("{:?}", args.triage).to_lowercase(),
        })
    );
    Ok(())
}

struct Latency {
    sent: usize,
    logged: usize,
    lost: usize,
    duplicated: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn through_a_node(args: &AdaptersBenchArgs) -> anyhow::Result<Latency> {
    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let bench_url = crate::db::sibling_database_url(&database.url, "adapters")?;
    crate::db::recreate_database(&database.url, &bench_url, true).await?;
    let pool = crate::db::connect(&bench_url, 8).await?;
    let settings = Settings { port: 0, handle_signals: false, triage: args.triage, ..Settings::default() };
    let app = Application::build(settings, pool.clone()).await?;
    let (port, rooms, handle) = (app.port, app.rooms.clone(), app.server_handle());
    actix_rt::spawn(app.run_until_stopped());
    let catalog = crate::knowledge::Catalog::demo();
    crate::knowledge::import_catalog(&pool, &catalog, "bench").await?;
    let spec = crate::room::RoomSpec {
        room_id: "adapters".into(),
        brand_id: catalog.all_brands()[0].id.clone(),
        experiment: None,
        policy: None,
    };
    let room = rooms.open("adapters", Some(&spec)).await?;
    // the script: the auth reply, then one danmaku frame per comment, paced
    let pause = Duration::from_secs_f64(1.0 / args.rate);
    let mut script = vec![fake::bilibili_auth_ok()];
    let mut index_of: HashMap<usize, String> = HashMap::new();
    for i in 0..args.comments {
        let id = format!("bench-{i}");
        index_of.insert(script.len(), format!("bilibili:{id}"));
        let text = ["这个能煮粥吗", "保修多久", "多少钱", "有货吗", "主播好"][i % 5];
        script.push(Action::Send(fake::bilibili_messages(&[fake::danmaku(
            1000 + (i % 300) as u64,
            "观众",
            text,
            &id,
        )])));
        script.push(Action::Pause(pause));
    }
    let server = FakeServer::start(vec![script], FakeOptions::new(Flavor::Bilibili), false).await?;
    let client = BilibiliWeb::new(BilibiliArgs {
        platform_room: 1,
        ws_url: Some(server.url.clone()),
        api_url: bilibili::DEFAULT_API_URL.into(),
        web_api_url: bilibili::DEFAULT_WEB_API_URL.into(),
        uid: 0,
        buvid: String::new(),
        cookie: None,
        token: String::new(),
        heartbeat_secs: 30,
    });
    let (tx, rx) = mpsc::channel(2000);
    let (stop_tx, stop_rx) = watch::channel(false);
    let options = RunnerOptions {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(500), Duration::from_secs(60)),
        ..RunnerOptions::default()
    };
    let runner = tokio::spawn(runner::run(client, options, tx, stop_rx.clone()));
    let feeder = tokio::spawn(feeder::feed(
        rx,
        FeederOptions::new(&format!("http://127.0.0.1:{port}"), "adapters", None),
        stop_rx,
        Duration::from_secs(5),
    ));
    // poll the log for the comments as they land
    let mut logged_at: HashMap<String, Instant> = HashMap::new();
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    let mut after = 0i64;
    let deadline = Instant::now() + Duration::from_secs_f64(args.comments as f64 / args.rate + 60.0);
    while logged_at.len() < args.comments && Instant::now() < deadline {
        for envelope in crate::eventlog::read_session(&pool, room.session_id, after).await? {
            after = envelope.seq;
            if let (Event::ViewerCommented { .. }, Some(id)) = (&envelope.event, envelope.event.platform_msg_id()) {
                logged_at.entry(id.to_string()).or_insert_with(Instant::now);
                *occurrences.entry(id.to_string()).or_default() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = stop_tx.send(true);
    let _ = runner.await;
    let _ = feeder.await;
    let sent_at: HashMap<&str, Instant> = server
        .sent
        .lock()
        .map(|sent| sent.iter().filter_map(|(_, i, at)| Some((index_of.get(i)?.as_str(), *at))).collect())
        .unwrap_or_default();
    let mut latencies: Vec<f64> = sent_at
        .iter()
        .filter_map(|(id, sent)| Some(logged_at.get(*id)?.duration_since(*sent).as_secs_f64() * 1000.0))
        .collect();
    let _ = rooms.end("adapters", "bench over").await;
    let _ = tokio::time::timeout(Duration::from_secs(3), handle.stop(false)).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), pool.close()).await;
    crate::db::recreate_database(&database.url, &bench_url, false).await?;
    let max_ms = latencies.iter().copied().fold(0.0, f64::max);
    Ok(Latency {
        sent: sent_at.len(),
        logged: logged_at.len(),
        lost: args.comments.saturating_sub(logged_at.len()),
        duplicated: occurrences.values().filter(|n| **n > 1).count(),
        p50_ms: percentile(&mut latencies, 50.0),
        p99_ms: percentile(&mut latencies, 99.0),
        max_ms,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sample_frame_decodes_to_events() {
        for mut sample in super::samples() {
            assert!((sample.decode)() >= 1, "{}", sample.name);
        }
    }
}
