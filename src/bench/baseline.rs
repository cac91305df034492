//! Baselines for the benchmarks, never used by the product: SQL that writes
//! the event log's table directly, to measure what the log's own path costs
//! against the fastest way Postgres takes the same rows. The product's only
//! writer of events is `eventlog::writer`.

use std::time::Instant;

use futures_util::StreamExt;
use sqlx::PgPool;
use uuid::Uuid;

/// A BASELINE FOR `bench ingest`, NEVER USED BY THE PRODUCT: `COPY` the
/// logged rows of `sessions` (text format, read back from the log) into new
/// sessions of the same `events` table, bypassing the log writer; returns
/// rows/s of the `COPY ... FROM STDIN` alone. The copies are data only: their
/// sessions (`bench-copy-<round>-<i>`) are marked ended at once, so no room
/// ever resumes them.
pub async fn copy_rows_for_benchmark(pool: &PgPool, sessions: &[Uuid], round_no: usize) -> anyhow::Result<f64> {
    let mut conn = pool.acquire().await?;
    let mut data: Vec<u8> = Vec::new();
    let mut rows = 0usize;
    let mut copies = Vec::with_capacity(sessions.len());
    for (i, old) in sessions.iter().enumerate() {
        let new = Uuid::new_v4();
        crate::eventlog::create_session(pool, new, &format!("bench-copy-{round_no}-{i}")).await?;
        copies.push(new);
        let sql = format!(
            "COPY (SELECT '{new}'::uuid, seq, room_id, ts_ms, event_type, schema_version, causation_seq, payload \
             FROM events WHERE session_id = '{old}' ORDER BY seq) TO STDOUT"
        );
        let mut stream = conn.copy_out_raw(&sql).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            rows += chunk.iter().filter(|b| **b == b'\n').count();
            data.extend_from_slice(&chunk);
        }
    }
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY events (session_id, seq, room_id, ts_ms, event_type, schema_version, causation_seq, payload) FROM STDIN")
        .await?;
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    let secs = t.elapsed().as_secs_f64();
    // the copies are data only: no room runs them
    sqlx::query("UPDATE sessions SET ended_at = now() WHERE session_id = ANY($1)").bind(&copies).execute(pool).await?;
    Ok(rows as f64 / secs)
}
