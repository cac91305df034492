//! `liveroom bench ingest`: sustained events/s through the whole hot path
//! (ingest -> room -> policy -> group-commit append, durable) into the log,
//! against a raw `COPY` of the same rows into the same table, in the same run
//! (`bench::baseline`: the one place outside the log writer that writes events,
//! as a yardstick only).
//!
//! The database is the embedded cluster under --data-dir (durable: fsync and
//! synchronous commit on) or DATABASE_URL; the benchmark works in a database
//! of its own (`<name>_bench`), created fresh and dropped at the end.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sqlx::PgPool;

use super::{median, percentile, round};
use crate::app::{Application, Settings};
use crate::cli::DbArgs;
use crate::db::Database;
use crate::room::actor::Ingest;

#[derive(Debug, Args, Clone)]
pub struct IngestBenchArgs {
    /// Rooms ingesting at once.
    #[arg(long, default_value_t = 8)]
    pub rooms: usize,
    /// Events per ingest request (50: the same throughput as 100 here, with
    /// half the queue ahead of each append, so half the latency).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Requests in flight per room (one, as a platform adapter per room sends).
    /// More requests in flight only lengthen the writer's queue: latency
    /// grows (Little's law) while throughput does not.
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Comment triage: the keyword rules (default), the intent model when set up (auto), or the model.
    #[arg(long, value_enum, default_value = "rules")]
    pub triage: crate::app::TriageMode,
    #[command(flatten)]
    pub db: DbArgs,
}

struct Round {
    log_events_per_s: f64,
    ingested_per_s: f64,
    copy_events_per_s: f64,
    rows: i64,
}

pub async fn run(args: IngestBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rooms >= 1 && args.batch >= 1 && args.in_flight >= 1 && args.rounds >= 1,
        "counts must be at least 1"
    );
    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let bench_url = crate::db::sibling_database_url(&database.url, "bench")?;
    crate::db::recreate_database(&database.url, &bench_url, true).await?;
    let pool = crate::db::connect(&bench_url, 8).await?;
    let settings =
        Settings { port: 0, handle_signals: false, render_speed: 1.0, triage: args.triage, ..Settings::default() };
    let app = Application::build(settings, pool.clone()).await?;
    let catalog = crate::knowledge::Catalog::demo();
    crate::knowledge::import_catalog(&pool, &catalog, "bench").await?;
    let brand = catalog.all_brands()[0].id.clone();
    println!(
        "bench ingest: {} rooms x {} in flight x {} events/request, {} rounds of {} s, durable log (fsync on)",
        args.rooms, args.in_flight, args.batch, args.rounds, args.seconds
    );
    let mut rounds = Vec::new();
    let mut ingest_latency_ms = Vec::new();
    for round_no in 0..args.rounds {
        let r = run_round(&app, &pool, &brand, &args, round_no, &mut ingest_latency_ms).await?;
        println!(
            "round {}: {:.0} log events/s ({:.0} viewer events/s ingested), COPY of the same {} rows: {:.0} events/s",
            round_no + 1,
            r.log_events_per_s,
            r.ingested_per_s,
            r.rows,
            r.copy_events_per_s
        );
        rounds.push(r);
    }
    let mut append_ms: Vec<f64> = app.writer.latencies().take().into_iter().map(|us| us as f64 / 1000.0).collect();
    let events_per_s = median(&rounds.iter().map(|r| r.log_events_per_s).collect::<Vec<_>>());
    let ingested_per_s = median(&rounds.iter().map(|r| r.ingested_per_s).collect::<Vec<_>>());
    let copy_per_s = median(&rounds.iter().map(|r| r.copy_events_per_s).collect::<Vec<_>>());
    let p50_append = percentile(&mut append_ms, 50.0);
    let p99_append = percentile(&mut append_ms, 99.0);
    let p99_ingest = percentile(&mut ingest_latency_ms, 99.0);
    println!(
        "median: {events_per_s:.0} log events/s, {ingested_per_s:.0} viewer events/s, COPY {copy_per_s:.0} events/s ({:.0}% of COPY)",
        100.0 * events_per_s / copy_per_s
    );
    println!(
        "append-to-durable latency: p50 {p50_append:.2} ms, p99 {p99_append:.2} ms ({} appends); ingest request p99 {p99_ingest:.2} ms",
        append_ms.len()
    );
    teardown("ending the rooms", app.rooms.end_all("bench over")).await;
    teardown("stopping the server", app.server_handle().stop(false)).await;
    teardown("closing the pool", pool.close()).await;
    crate::db::recreate_database(&database.url, &bench_url, false).await?;
    println!(
        "{}",
        json!({
            "events_per_s": round(events_per_s, 0),
            "copy_events_per_s": round(copy_per_s, 0),
            "p99_append_ms": round(p99_append, 2),
            "ingested_events_per_s": round(ingested_per_s, 0),
            "p50_append_ms": round(p50_append, 2),
            "p99_ingest_request_ms": round(p99_ingest, 2),
        })
    );
    Ok(())
}

/// One step of the bench's teardown, given up with a warning after 10 s:
/// the bench database is dropped with FORCE afterwards in any case.
async fn teardown<T>(what: &str, step: impl std::future::Future<Output = T>) {
    if tokio::time::timeout(Duration::from_secs(10), step).await.is_err() {
        tracing::warn!("bench teardown: {what} took over 10 s; going on");
    }
}

async fn run_round(
    app: &Application,
    pool: &PgPool,
    brand: &str,
    args: &IngestBenchArgs,
    round_no: usize,
    latencies: &mut Vec<f64>,
) -> anyhow::Result<Round> {
    let mut sessions = Vec::new();
    let mut handles = Vec::new();
    for r in 0..args.rooms {
        let room_id = format!("bench-{round_no}-{r}");
        let spec = crate::room::RoomSpec {
            room_id: room_id.clone(),
            brand_id: brand.to_string(),
            experiment: None,
            policy: None,
        };
        let h = app.rooms.open(&room_id, Some(&spec)).await?;
        sessions.push(h.session_id);
        handles.push(h);
    }
    // the events: the crowd simulator's mix, generated before timing starts
    let per_producer = (args.seconds as usize * 40_000 / (args.rooms * args.in_flight)).max(args.batch * 2);
    let mut producers = Vec::new();
    for (r, h) in handles.iter().enumerate() {
        for k in 0..args.in_flight {
            let mut crowd = crate::ingest::simulator::Crowd::new(
                crate::knowledge::Catalog::demo(),
                (round_no * 1000 + r * 10 + k) as u64,
            );
            let batches: Vec<Vec<crate::events::Event>> = (0..per_producer / args.batch)
                .map(|_| {
                    let items: Vec<serde_json::Value> = (0..args.batch)
                        .map(|_| {
                            let mut e = crowd.next_event();
                            // distinct platform ids across producers
                            if let Some(id) = e.get("platform_msg_id").and_then(|v| v.as_str()).map(str::to_string) {
                                e["platform_msg_id"] = json!(format!("{k}-{id}"));
                            }
                            e
                        })
                        .collect();
                    crate::ingest::parse_value(serde_json::Value::Array(items)).expect("simulated events are valid")
                })
                .collect();
            producers.push((h.addr.clone(), batches));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (addr, batches) in producers {
        tasks.push(actix_rt::spawn(async move {
            let mut accepted = 0usize;
            let mut lat = Vec::new();
            for events in batches {
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                match addr.send(Ingest { events }).await {
                    Ok(Ok(receipt)) => accepted += receipt.accepted,
                    other => {
                        tracing::error!(?other, "bench ingest failed");
                        break;
                    }
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (accepted, lat)
        }));
    }
    let mut ingested = 0usize;
    for t in tasks {
        let (accepted, lat) = t.await.context("producer panicked")?;
        ingested += accepted;
        latencies.extend(lat);
    }
    // wait until the rooms' follow-up batches (triage, decisions) are durable
    for h in &handles {
        while h.addr.send(crate::room::actor::InFlightBatches).await? > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut rows = 0;
    for session in &sessions {
        rows += crate::eventlog::count_events(pool, *session).await?;
    }
    for h in &handles {
        app.rooms.end(&h.room_id, "bench round over").await?;
    }
    let copy_per_s = super::baseline::copy_rows_for_benchmark(pool, &sessions, round_no).await?;
    Ok(Round {
        log_events_per_s: rows as f64 / elapsed,
        ingested_per_s: ingested as f64 / elapsed,
        copy_events_per_s: copy_per_s,
        rows,
    })
}
