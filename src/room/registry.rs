//! The rooms this process runs. Opening a room takes its lease in Postgres,
//! then either resumes its open session by replaying the log or starts a new
//! session. Several nodes can share one database: a room is run by the node
//! that holds its lease.

use actix::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::actor::{BeginSession, ConsoleLine, EndSession, Room, RoomDeps, RoomError};
use super::lease::{self, Acquired, LeaseTimings};
use super::state::{PolicyConfig, RoomState};
use crate::eventlog;
use crate::events::{Event, Experiment};

/// How a room is configured when it starts a new session.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RoomSpec {
    pub room_id: String,
    pub brand_id: String,
    #[serde(default)]
    pub experiment: Option<Experiment>,
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
}

#[derive(Clone)]
pub struct RoomHandle {
    pub room_id: String,
    pub session_id: Uuid,
    pub addr: Addr<Room>,
    pub console: broadcast::Sender<ConsoleLine>,
    /// The epoch of the lease this room runs under (its appends are fenced by it).
    pub lease_epoch: i64,
}

pub const DISCLOSURE: &str = "本直播间主播为AI数字人 · The host of this live room is an AI digital human";

pub struct Rooms {
    deps: RoomDeps,
    node_id: String,
    leases: LeaseTimings,
    arbiter: ArbiterHandle,
    rooms: Mutex<HashMap<String, RoomHandle>>,
    /// Held while a room opens: two opens of one room at once (an API call
    /// and the takeover loop) would each take the lease, and the second epoch
    /// would fence the first room.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unknown brand {0:?}")]
    UnknownBrand(String),
    #[error("room {0:?} is run by another node ({1}) until its lease expires")]
    LeasedElsewhere(String, String),
    #[error("room {0:?} has no open session to resume")]
    NothingToResume(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Rooms {
    /// Rooms run on `arbiter`; `node_id` names this process in leases.
    pub fn new(deps: RoomDeps, node_id: String, leases: LeaseTimings, arbiter: ArbiterHandle) -> Arc<Rooms> {
        let rooms = Arc::new(Rooms {
            deps,
            node_id,
            leases,
            arbiter,
            rooms: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        });
        let weak = Arc::downgrade(&rooms);
        rooms.arbiter.spawn(async move {
            loop {
                tokio::time::sleep(leases.renew_every).await;
                let Some(rooms) = weak.upgrade() else { return };
                rooms.renew_leases().await;
                // rooms whose owner stopped renewing move here by replaying their log
                if let Err(e) = rooms.resume_open_sessions().await {
                    tracing::warn!(error = %e, "cannot look for rooms to take over");
                }
            }
        });
        rooms
    }

    /// A new session's policy: the spec's, with LLM replies when this
    /// process has an LLM configured (and the spec names none).
    fn session_policy(&self, spec: &RoomSpec) -> PolicyConfig {
        let mut policy = spec.policy.clone().unwrap_or_default();
        if policy.llm.is_none()
            && let Some(llm) = &self.deps.llm
        {
            policy.llm = Some(super::state::LlmPolicy { model: llm.config.model.clone() });
        }
        policy
    }

    pub fn deps(&self) -> &RoomDeps {
        &self.deps
    }

    pub fn get(&self, room_id: &str) -> Option<RoomHandle> {
        // unwrap: the lock is never held across a panic
        let rooms = self.rooms.lock().unwrap();
        rooms.get(room_id).filter(|h| h.addr.connected()).cloned()
    }

    pub fn list(&self) -> Vec<RoomHandle> {
        // unwrap: as above
        let mut v: Vec<RoomHandle> = self.rooms.lock().unwrap().values().cloned().collect();
        v.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        v
    }

    /// Open a room: resume its open session from the log, or start a new one
    /// with `spec` (`spec` is required for a new session).
    pub async fn open(&self, room_id: &str, spec: Option<&RoomSpec>) -> Result<RoomHandle, OpenError> {
        if let Some(h) = self.get(room_id) {
            return Ok(h);
        }
        let _opening = self.opening.lock().await;
        if let Some(h) = self.get(room_id) {
            return Ok(h);
        }
        let lease_epoch = self.acquire_lease(room_id).await?;
        let pool = &self.deps.pool;
        let mut resumed = None;
        if let Some(session_id) = eventlog::open_session(pool, room_id).await? {
            let events = eventlog::read_session(pool, session_id, 0).await?;
            if matches!(events.first().map(|e| &e.event), Some(Event::SessionStarted { .. })) {
                let state = RoomState::from_events(room_id, &events);
                tracing::info!(room = room_id, %session_id, events = events.len(), "resuming session from its log");
                resumed = Some((session_id, state));
            } else {
                // the process stopped between registering the session and
                // logging its start: nothing happened in it
                tracing::warn!(room = room_id, %session_id, "closing a session that never started");
                eventlog::mark_session_ended(pool, session_id, "").await?;
            }
        }
        let (session_id, state, begin) = match resumed {
            Some((session_id, state)) => (session_id, state, None),
            None => {
                let spec = spec.ok_or_else(|| OpenError::NothingToResume(room_id.to_string()))?;
                if !crate::knowledge::brand_exists(pool, &spec.brand_id).await? {
                    return Err(OpenError::UnknownBrand(spec.brand_id.clone()));
                }
                let (run_of_show, knowledge_version) = crate::knowledge::run_of_show(pool, &spec.brand_id).await?;
                let session_id = Uuid::new_v4();
                eventlog::create_session(pool, session_id, room_id).await?;
                let started = Event::SessionStarted {
                    brand_id: spec.brand_id.clone(),
                    knowledge_version,
                    run_of_show,
                    experiment: spec.experiment.clone(),
                    disclosure: DISCLOSURE.to_string(),
                    policy: self.session_policy(spec),
                };
                (session_id, RoomState::new(room_id), Some(started))
            }
        };
        let (console, _) = broadcast::channel(4096);
        let mut deps = self.deps.clone();
        // the room's appends are written only while its lease has this epoch
        deps.writer = deps.writer.under_lease(room_id, lease_epoch);
        let console_for_room = console.clone();
        let rid = room_id.to_string();
        let addr =
            Room::start_in_arbiter(&self.arbiter, move |_| Room::new(&rid, session_id, state, deps, console_for_room));
        if let Some(started) = begin {
            addr.do_send(BeginSession { started });
        }
        let handle = RoomHandle { room_id: room_id.to_string(), session_id, addr, console, lease_epoch };
        // unwrap: the lock is never held across a panic
        self.rooms.lock().unwrap().insert(room_id.to_string(), handle.clone());
        Ok(handle)
    }

    /// Resume every room whose session was left open (after a crash or on
    /// another node whose lease expired).
    pub async fn resume_open_sessions(&self) -> anyhow::Result<Vec<String>> {
        let mut resumed = Vec::new();
        for room_id in eventlog::rooms_with_open_sessions(&self.deps.pool).await? {
            if self.get(&room_id).is_some() {
                continue;
            }
            match self.open(&room_id, None).await {
                Ok(_) => resumed.push(room_id),
                Err(OpenError::NothingToResume(_)) => {}
                Err(OpenError::LeasedElsewhere(..)) => {}
                Err(e) => tracing::warn!(room = room_id, error = %e, "cannot resume room"),
            }
        }
        Ok(resumed)
    }

    /// End a room's session; returns its state digest.
    pub async fn end(&self, room_id: &str, reason: &str) -> Result<String, RoomError> {
        let handle = self.get(room_id).ok_or(RoomError::Stopped)?;
        let digest =
            handle.addr.send(EndSession { reason: reason.to_string() }).await.map_err(|_| RoomError::Stopped)??;
        // unwrap: the lock is never held across a panic
        self.rooms.lock().unwrap().remove(room_id);
        self.release_lease(room_id, handle.lease_epoch).await;
        Ok(digest)
    }

    /// End every session (graceful shutdown).
    pub async fn end_all(&self, reason: &str) -> Vec<(String, Result<String, RoomError>)> {
        let mut out = Vec::new();
        for h in self.list() {
            let r = self.end(&h.room_id, reason).await;
            out.push((h.room_id, r));
        }
        out
    }

    /// Take the room's lease; answers the epoch the room will run under.
    async fn acquire_lease(&self, room_id: &str) -> Result<i64, OpenError> {
        match lease::acquire(&self.deps.pool, room_id, &self.node_id, self.leases.ttl).await? {
            Acquired::Held { epoch } => Ok(epoch),
            Acquired::HeldElsewhere { owner } => Err(OpenError::LeasedElsewhere(room_id.to_string(), owner)),
        }
    }

    async fn renew_leases(&self) {
        let held: Vec<(String, i64)> = self.list().into_iter().map(|h| (h.room_id, h.lease_epoch)).collect();
        if held.is_empty() {
            return;
        }
        match lease::renew(&self.deps.pool, &held, self.leases.ttl).await {
            Ok(renewed) => {
                for (lost, epoch) in held.iter().filter(|(r, _)| !renewed.contains(r)) {
                    tracing::error!(room = lost, epoch, "lease lost to another node: stopping the room here");
                    // unwrap: the lock is never held across a panic
                    let mut rooms = self.rooms.lock().unwrap();
                    if rooms.get(lost).is_some_and(|h| h.lease_epoch == *epoch)
                        && let Some(h) = rooms.remove(lost)
                    {
                        h.addr.do_send(super::actor::StopRoom);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
        }
    }

    async fn release_lease(&self, room_id: &str, epoch: i64) {
        if let Err(e) = lease::release(&self.deps.pool, room_id, epoch).await {
            tracing::warn!(room = room_id, error = %e, "cannot release the room lease; it expires by itself");
        }
    }
}
