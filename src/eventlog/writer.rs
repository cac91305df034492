//! The group-commit writer: the only code that inserts events.
//!
//! Rooms hand it batches; it takes every batch waiting in its queue (from
//! many rooms), inserts them in one statement, and only after the commit
//! (durable: synchronous_commit on) calls each batch's callback, in the order
//! the batches arrived. One writer task means one order: a room's batches are
//! written and acknowledged in the order the room sent them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::LogRow;

/// Called once the batch is durable (or failed). Runs on the writer task:
/// it must only hand the result on (send a message), never block.
pub type OnDurable = Box<dyn FnOnce(Result<(), LogError>) + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error)]
#[error("event log append failed: {0}")]
pub struct LogError(pub Arc<str>);

struct AppendRequest {
    rows: Vec<LogRow>,
    enqueued_at: Instant,
    on_durable: OnDurable,
}

/// Append-to-durable latencies in microseconds, for the ingest benchmark.
#[derive(Default)]
pub struct LatencyRecorder {
    samples: Mutex<Vec<u32>>,
}

impl LatencyRecorder {
    pub fn take(&self) -> Vec<u32> {
        // unwrap: the lock is never held across a panic
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<AppendRequest>,
    latencies: Arc<LatencyRecorder>,
}

/// At most this many rows go into one INSERT: bounds a group's latency
/// (about 15 ms here) while a group still amortises its commit's fsync.
const MAX_GROUP_ROWS: usize = 1000;

impl LogWriter {
    /// Spawn the writer task on the current tokio runtime.
    pub fn spawn(pool: PgPool) -> LogWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let latencies = Arc::new(LatencyRecorder::default());
        tokio::spawn(run(pool, rx, latencies.clone()));
        LogWriter { tx, latencies }
    }

    /// Queue `rows` for appending; `on_durable` runs once they are durable.
    pub fn append(&self, rows: Vec<LogRow>, on_durable: OnDurable) {
        let request = AppendRequest { rows, enqueued_at: Instant::now(), on_durable };
        if let Err(mpsc::error::SendError(request)) = self.tx.send(request) {
            (request.on_durable)(Err(LogError("the log writer has stopped".into())));
        }
    }

    /// Append and wait until durable.
    pub async fn append_and_wait(&self, rows: Vec<LogRow>) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        self.append(
            rows,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await.unwrap_or_else(|_| Err(LogError("the log writer dropped the batch".into())))
    }

    pub fn latencies(&self) -> &LatencyRecorder {
        &self.latencies
    }
}

async fn run(pool: PgPool, mut rx: mpsc::UnboundedReceiver<AppendRequest>, latencies: Arc<LatencyRecorder>) {
    let mut group: Vec<AppendRequest> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut rows_in_group = first.rows.len();
        group.push(first);
        while rows_in_group < MAX_GROUP_ROWS {
            match rx.try_recv() {
                Ok(next) => {
                    rows_in_group += next.rows.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let result = insert_group(&pool, &group).await;
        match result {
            Ok(()) => finish(&mut group, &latencies, |_| Ok(())),
            Err(group_error) if group.len() > 1 => {
                // One bad batch must not fail the other rooms' batches: retry
                // each on its own, in order.
                tracing::warn!(error = %group_error, batches = group.len(), "group insert failed, retrying batch by batch");
                for request in group.drain(..) {
                    let result = insert_group(&pool, std::slice::from_ref(&request)).await;
                    record(&latencies, &request);
                    (request.on_durable)(result.map_err(|e| LogError(e.to_string().into())));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "event log append failed");
                let message: Arc<str> = e.to_string().into();
                finish(&mut group, &latencies, |_| Err(LogError(message.clone())));
            }
        }
    }
}

fn finish(
    group: &mut Vec<AppendRequest>,
    latencies: &LatencyRecorder,
    result: impl Fn(&AppendRequest) -> Result<(), LogError>,
) {
    for request in group.drain(..) {
        record(latencies, &request);
        let r = result(&request);
        (request.on_durable)(r);
    }
}

fn record(latencies: &LatencyRecorder, request: &AppendRequest) {
    let micros = request.enqueued_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
    // unwrap: the lock is never held across a panic
    let mut samples = latencies.samples.lock().unwrap();
    if samples.len() < 5_000_000 {
        samples.push(micros);
    }
}

async fn insert_group(pool: &PgPool, group: &[AppendRequest]) -> Result<(), sqlx::Error> {
    let rows = group.iter().flat_map(|r| r.rows.iter());
    let n = group.iter().map(|r| r.rows.len()).sum();
    let mut session_ids = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut room_ids = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut causations: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    for row in rows {
        session_ids.push(row.session_id);
        seqs.push(row.seq);
        room_ids.push(row.room_id.as_ref());
        ts.push(row.ts);
        types.push(row.event_type);
        versions.push(row.version);
        causations.push(row.causation);
        payloads.push(row.payload.as_str());
    }
    sqlx::query(super::INSERT_ROWS_SQL)
        .bind(&session_ids)
        .bind(&seqs)
        .bind(&room_ids)
        .bind(&ts)
        .bind(&types)
        .bind(&versions)
        .bind(&causations)
        .bind(&payloads)
        .execute(pool)
        .await?;
    Ok(())
}
