//! `liveroom bench replies`: generated replies end to end, against the
//! built-in streaming test server (`llm::testserver`) with a set first-token
//! delay: the real rooms, policy, durable log, retrieval and preview renderer.
//!
//! Phase 1 (latency; one room, one comment at a time): from the comment's
//! line on the console (it is logged) to the line of its reply's first
//! sentence being dispatched (the render command goes out with it); the
//! reply is then cancelled at a random point within its first 50 ms. In the
//! first half the server's first chunk (after the first-token delay) holds
//! the whole first sentence: the time beyond the delay is the room's own.
//! In the second half every chunk is 3 characters, so the first sentence
//! also waits for the chunks that complete it (`--token-ms` each).
//! Phase 2 (cancel; several rooms at once): each reply is cancelled at a
//! random point while it is spoken. Cancel latency runs from the line of the
//! cancel decision to the line of the renderer's cancelled ack. At the end
//! the log of every room is checked: no sentence of a cancelled reply is
//! dispatched or started after its cancel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::broadcast;

use super::{median, percentile, round};
use crate::app::{Application, Settings};
use crate::cli::DbArgs;
use crate::db::Database;
use crate::events::{Envelope, Event, OperatorCommand, UtterancePurpose, Viewer};
use crate::llm::LlmConfig;
use crate::llm::testserver::{self, TestServer};
use crate::room::actor::{ConsoleLine, Ingest, Operate};
use crate::room::registry::{RoomHandle, RoomSpec};

#[derive(Debug, Args, Clone)]
pub struct RepliesBenchArgs {
    /// The test server's first-token delay (ms).
    #[arg(long, default_value_t = 150)]
    pub first_token_ms: u64,
    /// Delay between streamed tokens (3 characters each), ms.
    #[arg(long, default_value_t = 8)]
    pub token_ms: u64,
    /// Comments in all (each answered reply is a cancel trial; the rules
    /// take some catalogue questions for remarks, skipped as not a question).
    #[arg(long, default_value_t = 1100)]
    pub trials: usize,
    /// Of them, latency trials (phase 1, one room, one at a time; half with
    /// the first sentence whole in the first chunk, half streamed).
    #[arg(long, default_value_t = 400)]
    pub latency_trials: usize,
    /// Rooms in phase 2.
    #[arg(long, default_value_t = 16)]
    pub rooms: usize,
    /// Preview speech rate (sentences last at least 600 ms at any rate).
    #[arg(long, default_value_t = 4.0)]
    pub render_speed: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Default)]
struct Figures {
    /// Phase 1, the first sentence whole in the first chunk.
    first_sentence_ms: Vec<f64>,
    /// Phase 1, the first sentence streamed 3 characters per chunk.
    first_sentence_streamed_ms: Vec<f64>,
    first_sentence_loaded_ms: Vec<f64>,
    cancel_ack_ms: Vec<f64>,
    /// Cancels that ended a reply (the rest came after it was spoken).
    cancels_hit: usize,
    cancels_between_sentences: usize,
    missed: usize,
    /// The sentence on air finished before the cancel reached the renderer.
    finished_first: usize,
    fallbacks: usize,
    /// Comments skipped (not answered), by reason.
    skipped: std::collections::BTreeMap<String, usize>,
    /// Phase 1: ms from the comment's line to the lines of its retrieval,
    /// LLM request and first streamed sentence.
    stages: Vec<[f64; 3]>,
}

impl Figures {
    /// Add another part's figures (its phase 1 first sentences as `streamed`
    /// or not).
    fn absorb(&mut self, g: Figures, streamed: bool) {
        if streamed {
            self.first_sentence_streamed_ms.extend(g.first_sentence_ms);
        } else {
            self.first_sentence_ms.extend(g.first_sentence_ms);
            self.stages.extend(g.stages);
        }
        self.first_sentence_loaded_ms.extend(g.first_sentence_loaded_ms);
        self.cancel_ack_ms.extend(g.cancel_ack_ms);
        self.cancels_hit += g.cancels_hit;
        self.cancels_between_sentences += g.cancels_between_sentences;
        self.missed += g.missed;
        self.finished_first += g.finished_first;
        self.fallbacks += g.fallbacks;
        for (reason, n) in g.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
    }
}

/// A room's console, parsed.
struct Probe {
    rx: broadcast::Receiver<ConsoleLine>,
    session: uuid::Uuid,
    last: String,
}

impl Probe {
    async fn next(&mut self, deadline: Instant) -> anyhow::Result<(Instant, Envelope)> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, self.rx.recv()).await {
            Err(_) => {
                anyhow::bail!("timed out waiting for the room (session {}, last line {})", self.session, self.last)
            }
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => anyhow::bail!("console lagged by {n} lines"),
            Ok(Err(e)) => anyhow::bail!("console closed: {e}"),
            Ok(Ok(line)) => line,
        };
        let at = Instant::now();
        let envelope: Envelope = serde_json::from_str(&line.json)?;
        self.last = line.json.to_string();
        Ok((at, envelope))
    }

    /// Wait for the first event `f` picks.
    async fn until<T>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Envelope) -> Option<T>,
    ) -> anyhow::Result<(Instant, T)> {
        let deadline = Instant::now() + timeout;
        loop {
            let (at, e) = self.next(deadline).await?;
            if let Some(t) = f(&e) {
                return Ok((at, t));
            }
        }
    }
}

fn is_first_sentence(e: &Envelope, reply: &str) -> bool {
    matches!(&e.event, Event::UtteranceDispatched { purpose: UtterancePurpose::LlmReply { reply_id, index: _, .. }, .. } if reply_id == reply)
}

enum Answer {
    Llm,
    Template,
    /// Skipped, with the reason.
    None(String),
}

/// Post a comment; wait for its reply's first dispatched sentence.
/// Returns (ms from logged to first sentence, reply id, how it was answered,
/// ms from logged to the lines of the retrieval, the LLM request and the
/// first streamed sentence).
async fn comment(
    room: &RoomHandle,
    probe: &mut Probe,
    n: usize,
    text: &str,
) -> anyhow::Result<(f64, String, Answer, [f64; 3])> {
    let viewer = Viewer { id: format!("v{n}"), name: format!("观众{}", n % 50), platform_msg_id: None };
    let receipt =
        room.addr.send(Ingest { events: vec![Event::ViewerCommented { viewer, text: text.into() }] }).await??;
    let seq = receipt.seqs[0];
    let (logged, _) = probe
        .until(Duration::from_secs(10), |e| (e.seq == seq).then_some(()))
        .await
        .context("waiting for the comment line")?;
    let reply = crate::room::policy::reply_id_for(seq);
    // when each stage's line came, after the comment's
    let mut stages = [f64::NAN; 3];
    let deadline = Instant::now() + Duration::from_secs(10);
    let (at, answer) = loop {
        let (at, e) = probe.next(deadline).await.context("waiting for the first sentence")?;
        let ms = at.duration_since(logged).as_secs_f64() * 1000.0;
        match &e.event {
            _ if is_first_sentence(&e, &reply) => break (at, Answer::Llm),
            Event::ReplyDecided { comment_seqs, .. } if comment_seqs.contains(&seq) => break (at, Answer::Template),
            Event::CommentSkipped { comment_seq, reason, .. } if *comment_seq == seq => {
                break (at, Answer::None(format!("{reason:?}")));
            }
            Event::KnowledgeRetrieved { comment_seq, .. } if *comment_seq == seq => stages[0] = ms,
            Event::LlmRequested { reply_id, .. } if *reply_id == reply => stages[1] = ms,
            Event::LlmSentence { reply_id, index: 0, .. } if *reply_id == reply => stages[2] = ms,
            _ => {}
        }
    };
    Ok((at.duration_since(logged).as_secs_f64() * 1000.0, reply, answer, stages))
}

/// Cancel what is on air after `delay`; record the cancel's latency: from
/// sending the command (it is logged, decided, made durable) to the line of
/// the renderer's cancelled ack (also logged first): an upper bound of
/// decision-to-ack.
async fn cancel(
    room: &RoomHandle,
    probe: &mut Probe,
    reply: &str,
    delay: Duration,
    f: &mut Figures,
) -> anyhow::Result<()> {
    tokio::time::sleep(delay).await;
    let sent = Instant::now();
    let op_seq = room.addr.send(Operate { command: OperatorCommand::CancelCurrent }).await??;
    // the room broadcasts a batch's lines before it answers: every line up
    // to the command's decisions is on the console now
    let mut ended = None;
    let mut on_air = None;
    let mut acked = HashMap::new();
    loop {
        match probe.rx.try_recv() {
            Ok(line) => {
                let e: Envelope = serde_json::from_str(&line.json)?;
                match &e.event {
                    // the renderer's ack may already be logged too
                    Event::UtteranceCancelled { utterance_id } => {
                        acked.insert(utterance_id.clone(), Some(Instant::now()));
                    }
                    Event::UtteranceFinished { utterance_id } => {
                        acked.insert(utterance_id.clone(), None);
                    }
                    Event::LlmReplyEnded { reply_id, outcome, .. } if reply_id == reply => {
                        ended = Some(outcome.clone())
                    }
                    Event::UtteranceCancelRequested { utterance_id, .. } if e.causation == Some(op_seq) => {
                        on_air = Some(utterance_id.clone())
                    }
                    _ => {}
                }
            }
            Err(broadcast::error::TryRecvError::Empty) => break,
            Err(e) => anyhow::bail!("console: {e}"),
        }
    }
    if ended.as_deref() != Some("cancelled") {
        f.missed += 1;
        return Ok(());
    }
    f.cancels_hit += 1;
    match on_air {
        None => f.cancels_between_sentences += 1,
        Some(id) if acked.contains_key(&id) => match acked[&id] {
            Some(at) => f.cancel_ack_ms.push(at.duration_since(sent).as_secs_f64() * 1000.0),
            None => f.finished_first += 1,
        },
        Some(id) => {
            // the renderer acks the cancel, or had finished the sentence
            // before the cancel reached it (its finished ack was on the way)
            let (at, cancelled) = probe
                .until(Duration::from_secs(10), |e| match &e.event {
                    Event::UtteranceCancelled { utterance_id } if *utterance_id == id => Some(true),
                    Event::UtteranceFinished { utterance_id } if *utterance_id == id => Some(false),
                    _ => None,
                })
                .await
                .context("waiting for the cancelled ack")?;
            if cancelled {
                f.cancel_ack_ms.push(at.duration_since(sent).as_secs_f64() * 1000.0);
            } else {
                f.finished_first += 1;
            }
        }
    }
    Ok(())
}

/// One trial: a question, its first sentence, a cancel after a random delay.
async fn trial(
    room: &RoomHandle,
    probe: &mut Probe,
    n: usize,
    question: &str,
    delay: Duration,
    loaded: bool,
    f: &mut Figures,
) -> anyhow::Result<()> {
    let (ms, reply, answer, stages) = comment(room, probe, n, question).await?;
    match answer {
        Answer::Llm => {
            if loaded {
                f.first_sentence_loaded_ms.push(ms)
            } else {
                f.first_sentence_ms.push(ms);
                f.stages.push(stages);
            }
            cancel(room, probe, &reply, delay, f).await
        }
        Answer::Template => {
            f.fallbacks += 1;
            // the template reply is spoken when dispatched: cut it short
            tokio::time::sleep(Duration::from_millis(50)).await;
            room.addr.send(Operate { command: OperatorCommand::CancelCurrent }).await??;
            Ok(())
        }
        Answer::None(reason) => {
            *f.skipped.entry(reason).or_default() += 1;
            Ok(())
        }
    }
}

/// Sentences of cancelled replies spoken after the cancel: dispatched after
/// the cancel decision, or started after the cancelled ack (the sentence on
/// air may log its start between the decision and its cancelled ack: the
/// renderer had started it before the cancel reached it).
pub fn spoken_after_cancel(events: &[Envelope]) -> usize {
    let mut reply_of: HashMap<String, String> = HashMap::new();
    let mut last_of: HashMap<String, String> = HashMap::new();
    let mut cancelled: std::collections::HashSet<String> = Default::default();
    let mut acked: std::collections::HashSet<String> = Default::default();
    let mut bad = 0;
    for e in events {
        let flag = match &e.event {
            Event::UtteranceDispatched {
                utterance_id, purpose: UtterancePurpose::LlmReply { reply_id, .. }, ..
            } => {
                reply_of.insert(utterance_id.clone(), reply_id.clone());
                last_of.insert(reply_id.clone(), utterance_id.clone());
                cancelled.contains(reply_id)
            }
            Event::LlmReplyEnded { reply_id, outcome, .. } if outcome == "cancelled" => {
                cancelled.insert(reply_id.clone());
                false
            }
            Event::UtteranceCancelled { utterance_id } => {
                acked.insert(utterance_id.clone());
                false
            }
            Event::UtteranceStarted { utterance_id } => match reply_of.get(utterance_id) {
                Some(r) if cancelled.contains(r) => {
                    last_of.get(r) != Some(utterance_id) || acked.contains(utterance_id)
                }
                _ => false,
            },
            _ => false,
        };
        if flag {
            bad += 1;
            eprintln!("spoken after cancel: seq {} {}", e.seq, e.event_json());
        }
    }
    bad
}

async fn prepare(room: &RoomHandle) -> anyhow::Result<Probe> {
    let probe = Probe { rx: room.console.subscribe(), session: room.session_id, last: String::new() };
    // no pitch: every reply finds the floor free
    room.addr.send(Operate { command: OperatorCommand::Pause }).await??;
    room.addr.send(Operate { command: OperatorCommand::CancelCurrent }).await??;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut probe = probe;
    while probe.rx.try_recv().is_ok() {}
    Ok(probe)
}

pub async fn run(args: RepliesBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rooms >= 1 && args.trials >= args.latency_trials,
        "--trials must be at least --latency-trials, --rooms at least 1"
    );
    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let bench_url = crate::db::sibling_database_url(&database.url, "replies_bench")?;
    crate::db::recreate_database(&database.url, &bench_url, true).await?;
    let pool = crate::db::connect(&bench_url, 8).await?;
    let server = TestServer::start(testserver::grounded(args.first_token_ms, args.token_ms)).await?;
    let mut llm = LlmConfig::new(&server.base_url, "test-model");
    llm.first_token_timeout_ms = (args.first_token_ms * 4).max(2000);
    let settings = Settings {
        port: 0,
        handle_signals: false,
        render_speed: args.render_speed,
        llm: Some(llm.clone()),
        ..Settings::default()
    };
    let app = Application::build(settings, pool.clone()).await?;
    let catalog = crate::knowledge::Catalog::demo();
    crate::knowledge::import_catalog(&pool, &catalog, "bench").await?;
    let brand = catalog.all_brands()[0].id.clone();
    let questions: Vec<String> = catalog
        .products
        .iter()
        .flat_map(|p| p.faq.iter().flat_map(|f| f.questions.iter().cloned()))
        .filter(|q| q.chars().any(crate::events::is_cjk))
        .collect();
    anyhow::ensure!(!questions.is_empty(), "the demo catalogue has no questions");
    println!(
        "bench replies: test server first token {} ms, {} ms per 3-character token; {} trials ({} one at a time in one room, the rest over {} rooms); durable log (fsync on)",
        args.first_token_ms, args.token_ms, args.trials, args.latency_trials, args.rooms
    );

    // the endpoint's own time to first token, as the client sees it
    let client = crate::llm::LlmClient::new(llm);
    let mut ttft = Vec::new();
    for q in questions.iter().take(20) {
        let request = crate::llm::prompts::answer(&brand, crate::events::Lang::Zh, &[("v".into(), q.clone())], &[]);
        let mut t = None;
        client
            .stream(&request, |i| {
                if let crate::llm::StreamItem::Finished { ttft_ms, .. } = i {
                    t = Some(ttft_ms as f64)
                }
            })
            .await;
        ttft.extend(t);
    }

    let mut rng = rand::rngs::SmallRng::seed_from_u64(args.seed);
    let mut handles = Vec::new();
    for i in 0..args.rooms {
        // the catalogue's questions come again and again: answer repeats
        // (the default keeps a group answered for a while and skips them)
        let policy = crate::room::state::PolicyConfig { group_window_ms: 0, ..Default::default() };
        let spec = RoomSpec {
            room_id: format!("bench-replies-{i}"),
            brand_id: brand.clone(),
            experiment: None,
            policy: Some(policy),
        };
        handles.push(app.rooms.open(&spec.room_id, Some(&spec)).await.context("open a bench room")?);
    }
    let mut f = Figures::default();
    let started = Instant::now();
    // phase 1: one room, one comment at a time; the first half with the
    // first sentence whole in the first chunk (the first token), the second
    // with everything streamed 3 characters per chunk
    {
        let room = &handles[0];
        let mut probe = prepare(room).await?;
        let mut order: Vec<usize> = (0..questions.len()).collect();
        order.shuffle(&mut rng);
        let half = args.latency_trials / 2;
        for (streamed, trials) in [(false, 0..half), (true, half..args.latency_trials)] {
            let behavior = if streamed {
                testserver::grounded(args.first_token_ms, args.token_ms)
            } else {
                testserver::grounded_first_sentence_whole(args.first_token_ms, args.token_ms)
            };
            server.set_behavior(behavior);
            let mut g = Figures::default();
            for n in trials {
                let q = &questions[order[n % order.len()]];
                let delay = Duration::from_millis(rng.random_range(0..50));
                trial(room, &mut probe, n, q, delay, false, &mut g).await?;
            }
            f.absorb(g, streamed);
        }
    }
    println!("phase 1: {} trials in {:.1} s", args.latency_trials, started.elapsed().as_secs_f64());
    // phase 2: every room at once, cancels anywhere in the reply
    let rest = args.trials - args.latency_trials;
    let per_room = rest.div_ceil(args.rooms);
    let phase2 = Instant::now();
    let mut jobs = Vec::new();
    for (i, room) in handles.iter().enumerate() {
        let n = per_room.min(rest.saturating_sub(i * per_room));
        let plan: Vec<(String, Duration)> = (0..n)
            .map(|_| {
                (
                    questions[rng.random_range(0..questions.len())].clone(),
                    Duration::from_millis(rng.random_range(0..2000)),
                )
            })
            .collect();
        jobs.push(async move {
            let mut f = Figures::default();
            let mut probe = prepare(room).await?;
            for (k, (q, delay)) in plan.into_iter().enumerate() {
                trial(room, &mut probe, 100_000 + i * 10_000 + k, &q, delay, true, &mut f).await?;
            }
            anyhow::Ok(f)
        });
    }
    for r in futures_util::future::join_all(jobs).await {
        let g = match r {
            Ok(g) => g,
            Err(e) => {
                if std::env::var_os("LIVEROOM_BENCH_DEBUG").is_some() {
                    for room in &handles {
                        let events = crate::eventlog::read_session(&pool, room.session_id, 0).await?;
                        for ev in events.iter().rev().take(25).rev() {
                            eprintln!("{} {}", room.room_id, ev.to_json());
                        }
                    }
                }
                return Err(e);
            }
        };
        f.absorb(g, false);
    }
    println!("phase 2: {rest} trials in {:.1} s", phase2.elapsed().as_secs_f64());
    // late stream output of cancelled replies has time to arrive
    tokio::time::sleep(Duration::from_millis(args.first_token_ms + 1500)).await;
    let mut spoken_after = 0;
    let mut events_total = 0;
    for room in &handles {
        let events = crate::eventlog::read_session(&pool, room.session_id, 0).await?;
        events_total += events.len();
        spoken_after += spoken_after_cancel(&events);
        let report = crate::replay::replay(&events);
        anyhow::ensure!(report.mismatches.is_empty(), "replay of {} disagrees: {:?}", room.room_id, report.mismatches);
    }
    for (room, result) in app.rooms.end_all("bench").await {
        if let Err(e) = result {
            eprintln!("room {room}: {e}");
        }
    }
    drop(app);
    let _ = crate::db::recreate_database(&database.url, &bench_url, false).await;

    let trials = f.first_sentence_ms.len() + f.first_sentence_streamed_ms.len() + f.first_sentence_loaded_ms.len();
    let fs = &mut f.first_sentence_ms.clone();
    let fl = &mut f.first_sentence_loaded_ms.clone();
    let ca = &mut f.cancel_ack_ms.clone();
    println!("ttft (client, {} requests): median {:.1} ms", ttft.len(), median(&ttft));
    println!(
        "first sentence dispatched after the comment is logged, one room, the first sentence whole in the first chunk: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={}); budget first token + 20 = {} ms",
        percentile(fs, 50.0),
        percentile(fs, 99.0),
        percentile(fs, 100.0),
        fs.len(),
        args.first_token_ms + 20
    );
    let st = &mut f.first_sentence_streamed_ms.clone();
    println!(
        "the same with the first sentence streamed too, {} ms per 3-character chunk: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        args.token_ms,
        percentile(st, 50.0),
        percentile(st, 99.0),
        percentile(st, 100.0),
        st.len()
    );
    println!(
        "first sentence with {} rooms at once (streamed): p50 {:.1} ms, p99 {:.1} ms (n={})",
        args.rooms,
        percentile(fl, 50.0),
        percentile(fl, 99.0),
        fl.len()
    );
    println!(
        "cancel: {} ended a reply ({} between sentences, nothing on air; {} with the sentence on air already finished in the renderer), {} came after the reply was spoken; command to cancelled ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        f.cancels_hit,
        f.cancels_between_sentences,
        f.finished_first,
        f.missed,
        percentile(ca, 50.0),
        percentile(ca, 99.0),
        percentile(ca, 100.0),
        ca.len()
    );
    let stage = |i: usize| median(&f.stages.iter().map(|s| s[i]).filter(|v| v.is_finite()).collect::<Vec<_>>());
    println!(
        "one room, medians after the comment's line: retrieval logged {:.1} ms, LLM request logged {:.1} ms, first streamed sentence logged {:.1} ms, dispatched {:.1} ms",
        stage(0),
        stage(1),
        stage(2),
        median(&f.first_sentence_ms)
    );
    println!(
        "template fallbacks: {}, comments skipped: {:?}; sentences of cancelled replies spoken after the cancel: {spoken_after}; {events_total} events logged, replay reproduced every decision",
        f.fallbacks, f.skipped
    );
    let line = json!({
        "ttft_ms": round(median(&ttft), 1),
        "first_sentence_after_comment_ms": {"p50": round(percentile(fs, 50.0), 1), "p99": round(percentile(fs, 99.0), 1)},
        "first_sentence_streamed_ms": {"p50": round(percentile(st, 50.0), 1), "p99": round(percentile(st, 99.0), 1), "token_ms": args.token_ms},
        "cancel_ack_ms": {"p50": round(percentile(ca, 50.0), 1), "p99": round(percentile(ca, 99.0), 1)},
        "trials": trials,
        "spoken_after_cancel": spoken_after,
    });
    println!("{line}");
    Ok(())
}
