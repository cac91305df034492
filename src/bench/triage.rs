//! `liveroom bench triage`: comments per second through one node's triage
//! path: the input compliance checks the room's policy runs (comparison key,
//! emoji-only, prompt injection, sensitive words with their evasions), then
//! the triage service (intent model + near-duplicate search over each
//! session's window; repeated texts come from the cache and are counted
//! apart), with the latency of each comment from submission to result.
//!
//! The stream: the labelled comment texts of `tests/data/triage` and
//! variants of them (a short suffix), so most comments are distinct, plus a
//! share of exact repeats of earlier texts; spread over `--rooms` sessions,
//! with `--concurrency` comments in flight at once. Each round starts with a
//! fresh service (empty cache and windows) over the same loaded model.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;

use super::{median, percentile, round};
use crate::triage::{OnnxTriager, Precision, TriageService, Triager};

#[derive(Debug, Args, Clone)]
pub struct TriageBenchArgs {
    /// Comments per round.
    #[arg(long, default_value_t = 12_000)]
    pub comments: usize,
    /// Share of comments that repeat an earlier text exactly (cache hits).
    #[arg(long, default_value_t = 0.2)]
    pub repeat: f64,
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Comments in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Worker threads (each with its own ONNX Runtime session); the node's default.
    #[arg(long, default_value_t = crate::app::TRIAGE_WORKERS)]
    pub workers: usize,
    /// Most comments per model run; the node's default.
    #[arg(long, default_value_t = crate::app::TRIAGE_MAX_BATCH)]
    pub max_batch: usize,
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    #[arg(long, default_value = "tests/data/triage/comments.jsonl")]
    pub data: PathBuf,
}

const SUFFIXES: [&str; 8] = ["", " !", " 哈哈", " 👍", " ??", " 啊", " pls", " ~"];

/// The round's comments: (room index, text, is a repeat), deterministic.
fn stream(texts: &[String], args: &TriageBenchArgs) -> Vec<(usize, String, bool)> {
    let mut out: Vec<(usize, String, bool)> = Vec::with_capacity(args.comments);
    let mut distinct = 0usize;
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in 0..args.comments {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let room = i % args.rooms.max(1);
        let r = (x % 10_000) as f64 / 10_000.0;
        if r < args.repeat && distinct > 0 {
            let j = (x >> 20) as usize % distinct;
            let text = texts[j % texts.len()].clone() + SUFFIXES[(j / texts.len()) % SUFFIXES.len()];
            out.push((room, text, true));
        } else {
            let text = texts[distinct % texts.len()].clone() + SUFFIXES[(distinct / texts.len()) % SUFFIXES.len()];
            distinct += 1;
            out.push((room, text, false));
        }
    }
    out
}

pub async fn run(args: TriageBenchArgs) -> anyhow::Result<()> {
    let mut texts: Vec<String> =
        crate::eval::triage::load_rows(&args.data, "train")?.into_iter().map(|r| r.0).collect();
    texts.extend(crate::eval::triage::load_rows(&args.data, "heldout")?.into_iter().map(|r| r.0));
    anyhow::ensure!(!texts.is_empty(), "no comments in {}", args.data.display());
    let model = Arc::new(OnnxTriager::load(&crate::embed::models_dir(), Precision::Int8, args.workers)?);
    let comments = stream(&texts, &args);
    let repeats = comments.iter().filter(|c| c.2).count();
    println!(
        "{}: {} comments per round ({} texts, {} repeats), {} rooms, {} in flight, {} workers, batches of up to {}",
        model.name(),
        comments.len(),
        comments.len() - repeats,
        repeats,
        args.rooms,
        args.concurrency,
        args.workers,
        args.max_batch
    );
    let (mut rates, mut p99s, mut p50s, mut hit_p99s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round_no in 0..args.rounds.max(1) {
        let service = TriageService::with_model(model.clone(), args.workers, args.max_batch);
        let sessions: Vec<Uuid> = (0..args.rooms.max(1)).map(|_| Uuid::new_v4()).collect();
        let start = Instant::now();
        let results: Vec<(f64, bool, bool)> = futures_util::stream::iter(comments.iter().enumerate())
            .map(|(seq, (room, text, _))| {
                let (service, session) = (service.clone(), sessions[*room]);
                async move {
                    let t0 = Instant::now();
                    // what the room's policy checks before triage: the
                    // comparison key, emoji-only, injection, sensitive words
                    let norm = crate::compliance::text::normalize(text);
                    let screened = crate::compliance::text::is_emoji_only(text)
                        || crate::compliance::injection(text).is_some()
                        || crate::compliance::sensitive(text, &[]).is_some();
                    std::hint::black_box((norm, screened));
                    let r = service.triage(session, seq as i64 + 1, text).await;
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    match r {
                        Ok(t) => (ms, t.cached, t.similar_to.is_some()),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "triage failed");
                            (f64::NAN, false, false)
                        }
                    }
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
        let wall = start.elapsed().as_secs_f64();
        let failed = results.iter().filter(|r| r.0.is_nan()).count();
        anyhow::ensure!(failed == 0, "{failed} comments failed");
        let stats = service.stats();
        let mut model_ms: Vec<f64> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
        let mut hit_ms: Vec<f64> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
        let mut all_ms: Vec<f64> = results.iter().map(|r| r.0).collect();
        let similar = results.iter().filter(|r| r.2).count();
        let rate = stats.distinct as f64 / wall;
        let (p50, p99) = (percentile(&mut all_ms.clone(), 50.0), percentile(&mut all_ms, 99.0));
        println!(
            "round {}: {} distinct in {:.2} s = {:.0} distinct comments/s; {} cache hits; {} model runs ({:.1} per run); p50 {:.2} ms, p99 {:.2} ms (distinct p99 {:.2}, cached p99 {:.3}); {} with similar_to",
            round_no + 1,
            stats.distinct,
            wall,
            rate,
            stats.cache_hits,
            stats.model_runs,
            stats.distinct as f64 / stats.model_runs.max(1) as f64,
            p50,
            p99,
            percentile(&mut model_ms, 99.0),
            percentile(&mut hit_ms, 99.0),
            similar
        );
        rates.push(rate);
        p99s.push(p99);
        p50s.push(p50);
        hit_p99s.push(percentile(&mut hit_ms, 99.0));
    }
    println!(
        "median of {} rounds: {:.0} distinct comments/s (rounds {:?}), p99 {:.2} ms (rounds {:?})",
        rates.len(),
        median(&rates),
        rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        median(&p99s),
        p99s.iter().map(|p| round(*p, 2)).collect::<Vec<_>>()
    );
    println!(
        "{}",
        json!({
            "comments_per_s": round(median(&rates), 1),
            "p99_ms": round(median(&p99s), 3),
            "p50_ms": round(median(&p50s), 3),
            "cached_p99_ms": round(median(&hit_p99s), 3),
            "repeats_per_round": repeats,
            "distinct_per_round": comments.len() - repeats,
            "rounds": rates.len(),
            "workers": args.workers,
            "max_batch": args.max_batch,
            "concurrency": args.concurrency,
            "classifier": model.name(),
        })
    );
    Ok(())
}
