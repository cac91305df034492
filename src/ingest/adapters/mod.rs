//! Platform adapters: live platforms' danmaku streams turned into liveroom's
//! viewer events.
//!
//! Every adapter has the same two halves:
//! - a **decoder**, pure and synchronous: the platform's frames (bytes or
//!   text) in, normalised [`PlatformEvent`]s out, plus what to send back
//!   (Douyin's ack). A bad frame is an error value with a reason, never a
//!   panic; the decoders are fuzzed (`fuzz/`) and property-tested.
//! - a **client** (`runner`): connects, authenticates, sends heartbeats,
//!   reconnects with backoff and jitter, drops duplicates across reconnects,
//!   and hands [`AdapterItem`]s (events and connection-state changes) to a
//!   bounded channel. When the channel is full the client stops reading its
//!   socket: nothing is dropped and nothing is acknowledged to the platform
//!   before it is buffered.
//!
//! Where the items go is not the adapter's business: `feeder` posts them to
//! a node's ingest (`liveroom connect`); a room inside the node can consume
//! the same channel. [`wire`] maps events onto the ingest vocabulary.
//!
//! Code map: `bilibili` (web danmaku: packets, commands, WBI bootstrap),
//! `bilibili_open` (open platform: signed calls, commands), `douyin`
//! (webcast PushFrame/Response protobuf), `barragegrab` (the BarrageGrab
//! JSON bridge), `generic` (any JSON websocket feed with a field mapping),
//! `dedup` (message ids, content keys, gift combos), `backoff`, `runner`
//! (the one websocket client loop), `feeder` (to the node), `fake` (local
//! fake platform servers for tests and the bench).

pub mod backoff;
pub mod barragegrab;
pub mod bilibili;
pub mod bilibili_open;
pub mod dedup;
pub mod douyin;
pub mod fake;
pub mod feeder;
pub mod generic;
pub mod runner;
pub mod wire;

#[cfg(test)]
mod proptests;

use serde::Serialize;

/// The platforms an adapter speaks for. A viewer's identity is scoped by
/// platform (`bilibili:123`), so two adapters of one platform (Douyin's
/// webcast and the BarrageGrab bridge) share their viewers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Bilibili,
    /// Bilibili's open platform identifies viewers by `open_id`, not uid.
    BilibiliOpen,
    Douyin,
    /// A generic feed names its own platform.
    Other(String),
}

impl Platform {
    pub fn as_str(&self) -> &str {
        match self {
            Platform::Bilibili => "bilibili",
            Platform::BilibiliOpen => "bilibili_open",
            Platform::Douyin => "douyin",
            Platform::Other(name) => name,
        }
    }
}

/// Who did it, one identity per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformViewer {
    /// `platform:id`, e.g. `bilibili:123`; for a viewer the platform hides
    /// (a masked Bilibili name with uid 0) `bilibili:masked:<masked name>`.
    pub id: String,
    pub name: String,
    /// The platform masked the name (Bilibili's logged-out connections see
    /// `提***`); the room should not speak it.
    pub name_masked: bool,
}

impl PlatformViewer {
    pub fn new(platform: &Platform, id: impl std::fmt::Display, name: impl Into<String>) -> PlatformViewer {
        PlatformViewer { id: format!("{}:{id}", platform.as_str()), name: name.into(), name_masked: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    Live,
    Preparing,
    Ended,
}

/// A gift's combo: the platform's group, and whether this message ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Combo {
    pub group: String,
    /// The combo's running total after this increment.
    pub total: u64,
    pub ended: bool,
}

/// What happened, normalised across platforms.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlatformEventKind {
    Comment {
        text: String,
    },
    Join,
    Leave,
    Like {
        count: u64,
    },
    /// `count` is the increment this message adds (a combo counts once).
    Gift {
        gift_id: String,
        name: String,
        count: u64,
        value_cny: f64,
        combo: Option<Combo>,
    },
    Follow,
    Share,
    SuperChat {
        text: String,
        value_cny: f64,
    },
    /// Bilibili's 大航海: level 1 总督, 2 提督, 3 舰长; `count` in months.
    Guard {
        level: u8,
        count: u64,
        value_cny: f64,
    },
    Order {
        product_id: String,
        quantity: u64,
        amount_cny: f64,
    },
    /// The shop's products changed (Douyin's shopping messages).
    ProductChanged {
        product_id: Option<String>,
        detail: String,
    },
    RoomStats {
        online: Option<u64>,
        total: Option<u64>,
    },
    Stream {
        state: StreamState,
    },
}

impl PlatformEventKind {
    pub fn name(&self) -> &'static str {
        match self {
            PlatformEventKind::Comment { .. } => "comment",
            PlatformEventKind::Join => "join",
            PlatformEventKind::Leave => "leave",
            PlatformEventKind::Like { .. } => "like",
            PlatformEventKind::Gift { .. } => "gift",
            PlatformEventKind::Follow => "follow",
            PlatformEventKind::Share => "share",
            PlatformEventKind::SuperChat { .. } => "super_chat",
            PlatformEventKind::Guard { .. } => "guard",
            PlatformEventKind::Order { .. } => "order",
            PlatformEventKind::ProductChanged { .. } => "product_changed",
            PlatformEventKind::RoomStats { .. } => "room_stats",
            PlatformEventKind::Stream { .. } => "stream",
        }
    }
}

/// One normalised platform event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformEvent {
    pub platform: Platform,
    /// The platform's message id, or an id derived from the message's own
    /// fields (user, platform timestamp, content) when that makes it unique;
    /// `None` when neither exists (then dedup falls back to a content key in
    /// a short window, and the feeder gives it a delivery id).
    pub msg_id: Option<String>,
    /// Absent for room-level events (stats, stream state).
    pub viewer: Option<PlatformViewer>,
    pub kind: PlatformEventKind,
}

/// A connection-state change of an adapter's client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Connected and authenticated (or, without an auth step, open).
    Connected { endpoint: String },
    /// The connection ended; the client retries after `retry_in_ms`.
    Lost { reason: String, retry_in_ms: u64 },
}

/// What an adapter hands on: events, and changes of its connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum AdapterItem {
    Event(PlatformEvent),
    Connection(ConnectionState),
}

/// Why a frame could not be decoded; the frame is logged and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    pub fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError(reason.into())
    }
}

/// Cap on any decompressed payload: a frame that inflates past it is a
/// bad frame, not an out-of-memory.
pub const MAX_INFLATED_BYTES: u64 = 8 << 20;
