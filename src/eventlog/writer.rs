//! The group-commit writer: the only code that inserts events.
//!
//! Rooms hand it batches; it takes every batch waiting in its queue (from
//! many rooms), inserts them in one statement, and only after the commit
//! (durable: synchronous_commit on) calls each batch's callback, in the order
//! the batches arrived. One writer task means one order: a room's batches are
//! written and acknowledged in the order the room sent them.
//!
//! Failures stay with the batch at fault. When a group's statement is
//! refused for its data, the writer splits the group in halves, in order,
//! down to single batches: every batch that can be written is written (and
//! earlier halves are durable before later ones), and only the offending
//! batch gets [`LogErrorKind::Rejected`]. When the log cannot be reached,
//! what is not durable yet gets [`LogErrorKind::Unavailable`]. Either way the
//! session of a failed batch is *broken*: its later batches (in this group
//! or queued behind it) would follow a gap, so they get
//! [`LogErrorKind::PrecedingBatchFailed`] until a batch arrives that
//! continues the session's durable log exactly (the room refolded its state
//! from the log). So a later batch never becomes durable after an earlier
//! one failed, and the log has no seq gaps.
//!
//! Fencing: a room's batches carry the epoch of the lease it runs under
//! ([`LogWriter::under_lease`]). The group's statement share-locks the leases
//! of its rooms (in room order) and writes only rows whose room still has
//! that epoch; the batches of a room whose lease moved on get
//! [`LogErrorKind::Fenced`], the others are written. The lock makes a
//! takeover wait for a group in progress, so a new owner that replays the
//! log after taking the lease sees every row the old owner wrote.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::LogRow;
use super::error::{Failure, classify, sqlstate};
pub use super::error::{LogError, LogErrorKind};
use super::faults::{FaultPlan, Faults, InjectedFault, POISONED_PAYLOAD};

/// Called once the batch is durable (or failed). Runs on the writer task:
/// it must only hand the result on (send a message), never block.
pub type OnDurable = Box<dyn FnOnce(Result<(), LogError>) + Send + Sync>;

struct AppendRequest {
    rows: Vec<LogRow>,
    /// The lease epoch the batch is written under; `None`: not fenced
    /// (tools and tests that run no lease).
    epoch: Option<i64>,
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

/// A handle on the writer task. Clones share the task; a clone made with
/// [`LogWriter::under_lease`] writes its batches under a room's lease epoch.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<AppendRequest>,
    latencies: Arc<LatencyRecorder>,
    faults: Arc<Faults>,
    /// The lease this handle's batches are fenced by (set for rooms).
    lease: Option<LeaseFence>,
}

#[derive(Clone, Debug)]
struct LeaseFence {
    room_id: Arc<str>,
    epoch: i64,
}

/// At most this many rows go into one INSERT: bounds a group's latency
/// (about 15 ms here) while a group still amortises its commit's fsync.
const MAX_GROUP_ROWS: usize = 1000;
/// The writer's own pool: one statement at a time, plus the odd tail lookup
/// after a failure. Its own, so that reads (retrieval, consoles, replays)
/// never hold the connection an append waits for.
const WRITER_CONNECTIONS: u32 = 2;
/// How long an append waits for a connection before its batch fails as
/// `Unavailable` (while the database is down, each group waits this long).
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// A deadlock or serialisation failure is run again this many times.
const MAX_RETRIES: usize = 3;

impl LogWriter {
    /// Spawn the writer task on the current tokio runtime. The writer opens
    /// its own small pool with `pool`'s connect options (connecting lazily,
    /// reconnecting by itself when the database comes back).
    pub fn spawn(pool: PgPool) -> LogWriter {
        let options = (*pool.connect_options()).clone();
        let writer_pool = PgPoolOptions::new()
            .max_connections(WRITER_CONNECTIONS)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let (tx, rx) = mpsc::unbounded_channel();
        let latencies = Arc::new(LatencyRecorder::default());
        let faults = Arc::new(Faults::default());
        let task = WriterTask {
            pool: writer_pool,
            latencies: latencies.clone(),
            faults: faults.clone(),
            broken_sessions: HashSet::new(),
        };
        tokio::spawn(task.run(rx));
        LogWriter { tx, latencies, faults, lease: None }
    }

    /// A handle whose batches are written only while `room_id`'s lease still
    /// has `epoch` (see `room::lease`); once another owner takes the room,
    /// they fail as [`LogErrorKind::Fenced`] and nothing of them is logged.
    pub fn under_lease(&self, room_id: &str, epoch: i64) -> LogWriter {
        LogWriter { lease: Some(LeaseFence { room_id: room_id.into(), epoch }), ..self.clone() }
    }

    /// The lease epoch this handle writes under, if any.
    pub fn lease_epoch(&self) -> Option<i64> {
        self.lease.as_ref().map(|l| l.epoch)
    }

    /// Queue `rows` (one session's, in seq order) for appending; `on_durable`
    /// runs once they are durable, or with the reason they are not.
    pub fn append(&self, rows: Vec<LogRow>, on_durable: OnDurable) {
        debug_assert!(
            self.lease.as_ref().is_none_or(|l| rows.iter().all(|r| r.room_id == l.room_id)),
            "a fenced handle appends its own room's rows only"
        );
        let epoch = self.lease.as_ref().map(|l| l.epoch);
        let request = AppendRequest { rows, epoch, enqueued_at: Instant::now(), on_durable };
        if let Err(mpsc::error::SendError(request)) = self.tx.send(request) {
            tracing::error!("the log writer has stopped");
            (request.on_durable)(Err(LogError::unavailable()));
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
        rx.await.unwrap_or_else(|_| Err(LogError::unavailable()))
    }

    pub fn latencies(&self) -> &LatencyRecorder {
        &self.latencies
    }

    /// **For tests only; the product never calls this.** Make the next
    /// `plan.batches` appends (of `plan.room_id`, or of any room) fail with
    /// `plan.fault`, through the writer's real failure path.
    pub fn inject_faults(&self, plan: FaultPlan) {
        tracing::warn!(?plan, "log writer: faults injected (tests only)");
        self.faults.add(plan);
    }
}

struct WriterTask {
    pool: PgPool,
    latencies: Arc<LatencyRecorder>,
    faults: Arc<Faults>,
    /// Sessions whose last append failed: their next batch is written only
    /// if it continues the session's durable log exactly.
    broken_sessions: HashSet<Uuid>,
}

/// A row lock on a room's lease as the group's statement found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldLease {
    pub room_id: String,
    pub epoch: i64,
}

/// What the failure handling needs to know of a batch.
#[derive(Debug, Clone)]
pub(crate) struct BatchKey<'a> {
    pub session_id: Uuid,
    pub room_id: &'a str,
    pub epoch: Option<i64>,
    pub first_seq: i64,
    pub last_seq: i64,
}

impl AppendRequest {
    fn key(&self) -> BatchKey<'_> {
        let (first, last) = (self.rows.first(), self.rows.last());
        BatchKey {
            session_id: first.map(|r| r.session_id).unwrap_or_default(),
            room_id: first.map(|r| r.room_id.as_ref()).unwrap_or_default(),
            epoch: self.epoch,
            first_seq: first.map(|r| r.seq).unwrap_or_default(),
            last_seq: last.map(|r| r.seq).unwrap_or_default(),
        }
    }
}

impl WriterTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<AppendRequest>) {
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
            let outcomes = self.write_group(&mut group).await;
            for (request, outcome) in group.drain(..).zip(outcomes) {
                record(&self.latencies, &request);
                (request.on_durable)(outcome);
            }
        }
    }

    /// Write a group; one outcome per batch, in the group's order.
    async fn write_group(&mut self, group: &mut [AppendRequest]) -> Vec<Result<(), LogError>> {
        let mut outcomes: Vec<Option<Result<(), LogError>>> = vec![None; group.len()];
        let mut failed_in_group: HashSet<Uuid> = HashSet::new();
        if self.faults.is_armed() || !self.broken_sessions.is_empty() {
            self.gate(group, &mut outcomes, &mut failed_in_group).await;
        }
        let pending: Vec<usize> = (0..group.len()).filter(|i| outcomes[*i].is_none()).collect();
        let group: &[AppendRequest] = group;
        let keys: Vec<BatchKey<'_>> = group.iter().map(AppendRequest::key).collect();
        let mut statement = GroupStatement { pool: &self.pool, group };
        let newly_broken = write_chunks(&keys, pending, &mut outcomes, &mut failed_in_group, &mut statement).await;
        self.broken_sessions.extend(newly_broken);
        outcomes
            .into_iter()
            .map(|outcome| {
                debug_assert!(outcome.is_some(), "every batch of a group gets an outcome");
                outcome.unwrap_or_else(|| Err(LogError::unavailable()))
            })
            .collect()
    }

    /// Before the insert: injected faults, and the batches of broken
    /// sessions, which pass only if they continue the durable log exactly.
    async fn gate(
        &mut self,
        group: &mut [AppendRequest],
        outcomes: &mut [Option<Result<(), LogError>>],
        failed_in_group: &mut HashSet<Uuid>,
    ) {
        let broken_here: Vec<Uuid> = group
            .iter()
            .filter_map(|r| r.rows.first().map(|row| row.session_id))
            .filter(|s| self.broken_sessions.contains(s))
            .collect();
        let tails = match broken_here.is_empty() {
            true => Ok(HashMap::new()),
            false => durable_tails(&self.pool, &broken_here).await,
        };
        for (index, request) in group.iter_mut().enumerate() {
            let Some(first) = request.rows.first() else { continue };
            let (session_id, first_seq) = (first.session_id, first.seq);
            if failed_in_group.contains(&session_id) {
                outcomes[index] = Some(Err(LogError::preceding_batch_failed()));
                continue;
            }
            match self.faults.take(&first.room_id) {
                Some(InjectedFault::Unavailable) => {
                    tracing::warn!(room = %first.room_id, %session_id, first_seq, "injected fault: log unavailable");
                    outcomes[index] = Some(Err(LogError::unavailable()));
                    failed_in_group.insert(session_id);
                    self.broken_sessions.insert(session_id);
                    continue;
                }
                Some(InjectedFault::Rejected) => request.rows[0].payload = POISONED_PAYLOAD.to_string(),
                None => {}
            }
            if !self.broken_sessions.contains(&session_id) {
                continue;
            }
            match &tails {
                Err(error) => {
                    tracing::warn!(%session_id, %error, "cannot read the durable tail of a broken session");
                    outcomes[index] = Some(Err(LogError::unavailable()));
                    failed_in_group.insert(session_id);
                }
                Ok(tails) => {
                    let tail = tails.get(&session_id).copied().unwrap_or(0);
                    if first_seq == tail + 1 {
                        // the room refolded from the log: its batches go on from here
                        self.broken_sessions.remove(&session_id);
                    } else {
                        tracing::debug!(%session_id, first_seq, tail, "batch after a failed one refused: it would follow a gap");
                        outcomes[index] = Some(Err(LogError::preceding_batch_failed()));
                        failed_in_group.insert(session_id);
                    }
                }
            }
        }
    }
}

/// Inserts the rows of some batches of a group (by index) in one statement;
/// answers the leases of their fenced rooms as the statement found them.
pub(crate) trait InsertChunk {
    fn insert<'a>(
        &'a mut self,
        chunk: &'a [usize],
    ) -> impl std::future::Future<Output = Result<Vec<HeldLease>, sqlx::Error>> + Send + 'a;
}

struct GroupStatement<'g> {
    pool: &'g PgPool,
    group: &'g [AppendRequest],
}

impl InsertChunk for GroupStatement<'_> {
    fn insert<'a>(
        &'a mut self,
        chunk: &'a [usize],
    ) -> impl std::future::Future<Output = Result<Vec<HeldLease>, sqlx::Error>> + Send + 'a {
        insert_batches(self.pool, self.group, chunk)
    }
}

/// Write the `pending` batches with `insert`, in order: the whole lot in one
/// statement, and when the statement is refused for its data, halves of it,
/// down to single batches. Sets an outcome for every pending batch; returns
/// the sessions that failed (their later batches would follow a gap).
pub(crate) async fn write_chunks(
    keys: &[BatchKey<'_>],
    pending: Vec<usize>,
    outcomes: &mut [Option<Result<(), LogError>>],
    failed_in_group: &mut HashSet<Uuid>,
    statement: &mut impl InsertChunk,
) -> Vec<Uuid> {
    let mut broken = Vec::new();
    let mut work: VecDeque<Vec<usize>> = VecDeque::from([pending]);
    let mut fail = |index: usize, error: LogError, failed_in_group: &mut HashSet<Uuid>| {
        let session_id = keys[index].session_id;
        if failed_in_group.insert(session_id) {
            broken.push(session_id);
        }
        Some(Err(error))
    };
    while let Some(mut chunk) = work.pop_front() {
        chunk.retain(|index| {
            let follows_a_failure = failed_in_group.contains(&keys[*index].session_id);
            if follows_a_failure {
                outcomes[*index] = Some(Err(LogError::preceding_batch_failed()));
            }
            !follows_a_failure
        });
        if chunk.is_empty() {
            continue;
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match statement.insert(&chunk).await {
                Err(error) if classify(&error) == Failure::Retry && attempt < MAX_RETRIES => {
                    tracing::warn!(%error, attempt, "event log append conflicted, running it again");
                }
                other => break other,
            }
        };
        match result {
            Ok(held) => {
                for index in chunk {
                    let key = &keys[index];
                    let fenced = key
                        .epoch
                        .is_some_and(|epoch| !held.iter().any(|h| h.room_id == key.room_id && h.epoch == epoch));
                    if fenced {
                        tracing::warn!(
                            room = key.room_id,
                            epoch = key.epoch,
                            first_seq = key.first_seq,
                            "batch fenced: the room's lease has moved on"
                        );
                        outcomes[index] = Some(Err(LogError::fenced()));
                    } else {
                        outcomes[index] = Some(Ok(()));
                    }
                }
            }
            Err(error) if classify(&error) == Failure::Rejected && chunk.len() > 1 => {
                tracing::warn!(%error, batches = chunk.len(), "event log refused a group, writing it in halves");
                let right = chunk.split_off(chunk.len() / 2);
                work.push_front(right);
                work.push_front(chunk);
            }
            Err(error) if classify(&error) == Failure::Rejected => {
                let index = chunk[0];
                let key = &keys[index];
                let code = sqlstate(&error);
                tracing::error!(
                    room = key.room_id, session_id = %key.session_id, first_seq = key.first_seq, last_seq = key.last_seq,
                    sqlstate = code.as_deref().unwrap_or(""), %error,
                    "event log refused a batch"
                );
                outcomes[index] = fail(index, LogError::rejected(code.as_deref()), failed_in_group);
            }
            Err(error) => {
                let remaining: Vec<usize> = chunk.into_iter().chain(work.drain(..).flatten()).collect();
                tracing::error!(%error, batches = remaining.len(), "event log unavailable");
                for index in remaining {
                    if failed_in_group.contains(&keys[index].session_id) {
                        outcomes[index] = Some(Err(LogError::preceding_batch_failed()));
                    } else {
                        outcomes[index] = fail(index, LogError::unavailable(), failed_in_group);
                    }
                }
            }
        }
    }
    broken
}

fn record(latencies: &LatencyRecorder, request: &AppendRequest) {
    let micros = request.enqueued_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
    // unwrap: the lock is never held across a panic
    let mut samples = latencies.samples.lock().unwrap();
    if samples.len() < 5_000_000 {
        samples.push(micros);
    }
}

/// One statement: share-lock the leases of the fenced rooms (in room order,
/// so concurrent renewals cannot deadlock with it), insert every row whose
/// batch is unfenced or whose room still has its epoch, and return the
/// leases found. Autocommit: durable when it returns.
const INSERT_FENCED_ROWS_SQL: &str = "WITH rows AS (\
        SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::int2[], $7::int8[], \
        $8::text[], $9::int8[]) AS u(s, q, r, t, y, v, c, p, e)), \
    held AS (SELECT room_id, epoch FROM room_leases WHERE room_id = ANY($10::text[]) ORDER BY room_id FOR SHARE), \
    written AS (INSERT INTO events \
        (session_id, seq, room_id, ts_ms, event_type, schema_version, causation_seq, payload) \
        SELECT s, q, r, t, y, v, c, p::jsonb FROM rows \
        WHERE e IS NULL OR EXISTS (SELECT 1 FROM held WHERE held.room_id = rows.r AND held.epoch = rows.e)) \
    SELECT room_id, epoch FROM held";

async fn insert_batches(
    pool: &PgPool,
    group: &[AppendRequest],
    chunk: &[usize],
) -> Result<Vec<HeldLease>, sqlx::Error> {
    let n: usize = chunk.iter().map(|i| group[*i].rows.len()).sum();
    let mut session_ids = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut room_ids = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut causations: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut epochs: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut fenced_rooms: Vec<&str> = Vec::new();
    for request in chunk.iter().map(|i| &group[*i]) {
        if let (Some(_), Some(first)) = (request.epoch, request.rows.first()) {
            fenced_rooms.push(first.room_id.as_ref());
        }
        for row in &request.rows {
            session_ids.push(row.session_id);
            seqs.push(row.seq);
            room_ids.push(row.room_id.as_ref());
            ts.push(row.ts);
            types.push(row.event_type);
            versions.push(row.version);
            causations.push(row.causation);
            payloads.push(row.payload.as_str());
            epochs.push(request.epoch);
        }
    }
    fenced_rooms.sort_unstable();
    fenced_rooms.dedup();
    let held: Vec<(String, i64)> = sqlx::query_as(INSERT_FENCED_ROWS_SQL)
        .bind(&session_ids)
        .bind(&seqs)
        .bind(&room_ids)
        .bind(&ts)
        .bind(&types)
        .bind(&versions)
        .bind(&causations)
        .bind(&payloads)
        .bind(&epochs)
        .bind(&fenced_rooms)
        .fetch_all(pool)
        .await?;
    Ok(held.into_iter().map(|(room_id, epoch)| HeldLease { room_id, epoch }).collect())
}

/// The last durable seq of each of `sessions` that has any event.
async fn durable_tails(pool: &PgPool, sessions: &[Uuid]) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let tails: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT session_id, max(seq) FROM events WHERE session_id = ANY($1) GROUP BY session_id")
            .bind(sessions)
            .fetch_all(pool)
            .await?;
    Ok(tails.into_iter().collect())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
