//! Room leases: which node runs a room, and the fencing token it runs under.
//!
//! A node holds a room while its lease is fresh; it renews its leases every
//! `renew_every` and a lease it stops renewing expires after `ttl`, when
//! another node may take the room over by replaying its log. Every taking of
//! a lease (a new owner, or a new instance of the room on the same node)
//! draws a new **epoch** from a sequence, so epochs are never reused. A room
//! writes under its epoch ([`crate::eventlog::LogWriter::under_lease`]); the
//! writer refuses rows whose room's lease no longer has that epoch, so an old
//! owner that has not noticed it lost the room cannot append behind the new
//! owner's back. Renewal and release go by epoch too.
//!
//! All SQL on `room_leases` lives here.

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

/// How long a lease lasts and how often its holder renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// A lease not renewed for this long may be taken by another node.
    pub ttl: Duration,
    /// How often the holder renews its leases (and looks for rooms to take
    /// over); well under `ttl`.
    pub renew_every: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings { ttl: Duration::from_secs(15), renew_every: Duration::from_secs(5) }
    }
}

/// The outcome of trying to take a room's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// This node holds the lease now, under this epoch.
    Held { epoch: i64 },
    /// Another node holds a fresh lease on the room.
    HeldElsewhere { owner: String },
}

/// A lease as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub room_id: String,
    pub owner: String,
    pub epoch: i64,
}

/// Take `room_id`'s lease for `node_id` if it is free, expired, or already
/// this node's; a successful take always draws a new epoch.
pub async fn acquire(pool: &PgPool, room_id: &str, node_id: &str, ttl: Duration) -> anyhow::Result<Acquired> {
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO room_leases (room_id, owner, expires_at, epoch) \
         VALUES ($1, $2, now() + $3 * interval '1 second', nextval('room_lease_epochs')) \
         ON CONFLICT (room_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, \
         epoch = EXCLUDED.epoch \
         WHERE room_leases.owner = EXCLUDED.owner OR room_leases.expires_at < now() \
         RETURNING epoch",
    )
    .bind(room_id)
    .bind(node_id)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await
    .context("cannot take the room lease")?;
    if let Some(epoch) = taken {
        return Ok(Acquired::Held { epoch });
    }
    let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM room_leases WHERE room_id = $1")
        .bind(room_id)
        .fetch_optional(pool)
        .await
        .context("cannot read the room lease")?;
    // released between the two statements: nobody holds it, but this node did
    // not take it either; the caller tries again later
    Ok(Acquired::HeldElsewhere { owner: owner.unwrap_or_default() })
}

/// Renew the leases `held` (room id and the epoch it was taken under) for
/// another `ttl`; returns the rooms renewed. A room missing from the answer
/// was lost: its lease has another epoch now.
pub async fn renew(pool: &PgPool, held: &[(String, i64)], ttl: Duration) -> anyhow::Result<Vec<String>> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let (rooms, epochs): (Vec<&str>, Vec<i64>) = held.iter().map(|(r, e)| (r.as_str(), *e)).unzip();
    // rows are locked in room order, as the log writer locks them, so that a
    // renewal and a group append never deadlock
    let renewed = sqlx::query_scalar(
        "WITH mine AS (SELECT l.room_id FROM room_leases l \
             JOIN UNNEST($1::text[], $2::int8[]) AS h(room_id, epoch) ON l.room_id = h.room_id AND l.epoch = h.epoch \
             ORDER BY l.room_id FOR NO KEY UPDATE OF l) \
         UPDATE room_leases SET expires_at = now() + $3 * interval '1 second' \
         WHERE room_id IN (SELECT room_id FROM mine) RETURNING room_id",
    )
    .bind(&rooms)
    .bind(&epochs)
    .bind(ttl.as_secs_f64())
    .fetch_all(pool)
    .await
    .context("cannot renew the room leases")?;
    Ok(renewed)
}

/// Give up `room_id`'s lease taken under `epoch` (a newer one is left alone).
pub async fn release(pool: &PgPool, room_id: &str, epoch: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM room_leases WHERE room_id = $1 AND epoch = $2")
        .bind(room_id)
        .bind(epoch)
        .execute(pool)
        .await
        .context("cannot release the room lease")?;
    Ok(())
}

/// The lease on `room_id`, if any (fresh or expired).
pub async fn current(pool: &PgPool, room_id: &str) -> anyhow::Result<Option<Lease>> {
    sqlx::query_as("SELECT room_id, owner, epoch FROM room_leases WHERE room_id = $1")
        .bind(room_id)
        .fetch_optional(pool)
        .await
        .context("cannot read the room lease")
}
