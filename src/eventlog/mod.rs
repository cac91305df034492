//! The event log: append-only, per-session ordered, the truth of every room.
//!
//! All SQL on the `events` and `sessions` tables lives here. Only the writer
//! (`writer.rs`) inserts events; nothing updates or deletes them (a trigger
//! refuses it).

mod error;
pub mod faults;
pub mod writer;

use std::sync::Arc;

use anyhow::Context;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::events::{Envelope, Event};

pub use faults::{FaultPlan, InjectedFault};
pub use writer::{LogError, LogErrorKind, LogWriter};

/// One event as the log stores it; `payload` is the event's JSON
/// (`{"type": .., "data": ..}`).
#[derive(Debug, Clone)]
pub struct LogRow {
    pub session_id: Uuid,
    pub seq: i64,
    pub room_id: Arc<str>,
    pub ts: i64,
    pub event_type: &'static str,
    pub version: i16,
    pub causation: Option<i64>,
    pub payload: String,
}

impl LogRow {
    pub fn from_envelope(envelope: &Envelope, room_id: Arc<str>) -> LogRow {
        LogRow {
            session_id: envelope.session_id,
            seq: envelope.seq,
            room_id,
            ts: envelope.ts,
            event_type: envelope.event.type_name(),
            version: envelope.version,
            causation: envelope.causation,
            payload: envelope.event_json(),
        }
    }
}

/// Register a new session of `room_id`. The session's first event
/// (`SessionStarted`) is appended by the room.
pub async fn create_session(pool: &PgPool, session_id: Uuid, room_id: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO sessions (session_id, room_id) VALUES ($1, $2)")
        .bind(session_id)
        .bind(room_id)
        .execute(pool)
        .await
        .context("cannot create session")?;
    Ok(())
}

/// Note in the session listing that the session ended (its `SessionEnded`
/// event is already durable in the log).
pub async fn mark_session_ended(pool: &PgPool, session_id: Uuid, digest: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE sessions SET ended_at = now(), state_digest = $2 WHERE session_id = $1")
        .bind(session_id)
        .bind(digest)
        .execute(pool)
        .await
        .context("cannot mark session ended")?;
    Ok(())
}

/// The open (not ended) session of a room, if any.
pub async fn open_session(pool: &PgPool, room_id: &str) -> anyhow::Result<Option<Uuid>> {
    let id = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE room_id = $1 AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
    )
    .bind(room_id)
    .fetch_optional(pool)
    .await?;
    Ok(id)
}

/// Rooms with an open session: after a crash they are resumed from their log.
pub async fn rooms_with_open_sessions(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    let rooms = sqlx::query_scalar("SELECT DISTINCT room_id FROM sessions WHERE ended_at IS NULL ORDER BY room_id")
        .fetch_all(pool)
        .await?;
    Ok(rooms)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    pub session_id: Uuid,
    pub room_id: String,
    pub ended: bool,
    pub events: i64,
}

pub async fn list_sessions(pool: &PgPool, room_id: Option<&str>) -> anyhow::Result<Vec<SessionInfo>> {
    let rows = sqlx::query(
        "SELECT s.session_id, s.room_id, s.ended_at IS NOT NULL AS ended, \
         (SELECT count(*) FROM events e WHERE e.session_id = s.session_id) AS events \
         FROM sessions s WHERE $1::text IS NULL OR s.room_id = $1 ORDER BY s.started_at",
    )
    .bind(room_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SessionInfo {
                session_id: r.try_get("session_id")?,
                room_id: r.try_get("room_id")?,
                ended: r.try_get("ended")?,
                events: r.try_get("events")?,
            })
        })
        .collect()
}

/// Resolve a session given as a full uuid, a unique uuid prefix, or a room id
/// (its latest session).
pub async fn resolve_session(pool: &PgPool, given: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(given) {
        return Ok(id);
    }
    let by_prefix: Vec<Uuid> =
        sqlx::query_scalar("SELECT session_id FROM sessions WHERE session_id::text LIKE $1 || '%' LIMIT 2")
            .bind(given.to_lowercase())
            .fetch_all(pool)
            .await?;
    if by_prefix.len() == 1 {
        return Ok(by_prefix[0]);
    }
    if by_prefix.len() > 1 {
        anyhow::bail!("session prefix {given:?} is ambiguous");
    }
    let by_room: Option<Uuid> =
        sqlx::query_scalar("SELECT session_id FROM sessions WHERE room_id = $1 ORDER BY started_at DESC LIMIT 1")
            .bind(given)
            .fetch_optional(pool)
            .await?;
    by_room.with_context(|| format!("no session or room named {given:?}"))
}

/// Read a session's events in order, from `after_seq` (exclusive), all of
/// them (replay and resume need the whole session; pages are for readers
/// that show it: [`read_session_page`]).
pub async fn read_session(pool: &PgPool, session_id: Uuid, after_seq: i64) -> anyhow::Result<Vec<Envelope>> {
    let rows = sqlx::query(
        "SELECT room_id, seq, ts_ms, schema_version, causation_seq, payload::text AS payload \
         FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(session_id)
    .bind(after_seq)
    .fetch_all(pool)
    .await
    .context("cannot read the event log")?;
    rows.iter().map(|row| envelope_from_row(row, session_id)).collect()
}

/// The most events one page may hold.
pub const MAX_PAGE_EVENTS: usize = 10_000;

/// One page of a session's events.
#[derive(Debug, Clone)]
pub struct SessionPage {
    /// At most `limit` events after `after_seq`, in seq order.
    pub events: Vec<Envelope>,
    /// The `after_seq` of the next page; `None` when this page reached the
    /// end of the log as it is now.
    pub next_after_seq: Option<i64>,
}

/// Read the events of a session after `after_seq` (exclusive), at most
/// `limit` (1 to [`MAX_PAGE_EVENTS`]) of them: for consoles catching up and
/// the API, so no reader holds a whole session at once.
pub async fn read_session_page(
    pool: &PgPool,
    session_id: Uuid,
    after_seq: i64,
    limit: usize,
) -> anyhow::Result<SessionPage> {
    anyhow::ensure!((1..=MAX_PAGE_EVENTS).contains(&limit), "a page holds 1 to {MAX_PAGE_EVENTS} events, not {limit}");
    // one row more than asked tells whether another page follows
    let rows = sqlx::query(
        "SELECT room_id, seq, ts_ms, schema_version, causation_seq, payload::text AS payload \
         FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(session_id)
    .bind(after_seq)
    .bind(limit as i64 + 1)
    .fetch_all(pool)
    .await
    .context("cannot read the event log")?;
    let more = rows.len() > limit;
    let events =
        rows.iter().take(limit).map(|row| envelope_from_row(row, session_id)).collect::<anyhow::Result<Vec<_>>>()?;
    let next_after_seq = if more { events.last().map(|e| e.seq) } else { None };
    Ok(SessionPage { events, next_after_seq })
}

fn envelope_from_row(row: &sqlx::postgres::PgRow, session_id: Uuid) -> anyhow::Result<Envelope> {
    let seq: i64 = row.try_get("seq")?;
    let payload: String = row.try_get("payload")?;
    let version: i16 = row.try_get("schema_version")?;
    let event = Event::from_stored(version, &payload)
        .with_context(|| format!("event {seq} of session {session_id} does not parse"))?;
    Ok(Envelope {
        room_id: row.try_get("room_id")?,
        session_id,
        seq,
        ts: row.try_get("ts_ms")?,
        version,
        causation: row.try_get("causation_seq")?,
        event,
    })
}

/// The brand a session ran for (its `session_started`), for access checks.
pub async fn session_brand(pool: &PgPool, session_id: Uuid) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT payload->'data'->>'brand_id' FROM events WHERE session_id = $1 AND event_type = 'session_started' \
         ORDER BY seq LIMIT 1",
    )
    .bind(session_id)
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// How many events a session has in the log.
pub async fn count_events(pool: &PgPool, session_id: Uuid) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events WHERE session_id = $1").bind(session_id).fetch_one(pool).await?)
}

impl Event {
    /// Parse a stored event of schema `version` (upcasting older versions
    /// here when a variant changes shape).
    pub fn from_stored(version: i16, payload: &str) -> anyhow::Result<Event> {
        match version {
            crate::events::SCHEMA_VERSION => Ok(serde_json::from_str(payload)?),
            other => anyhow::bail!("unknown event schema version {other}"),
        }
    }
}
