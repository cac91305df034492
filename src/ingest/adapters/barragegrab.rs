//! The BarrageGrab bridge (HaoDong108/DouyinBarrageGrab, what Fay and
//! AI-Vtuber consume): a local websocket (`ws://127.0.0.1:8888`) pushing
//! `{"Type": n, "ProcessName": .., "Data": "<JSON string>"}`. Types: 1 chat,
//! 2 like, 3 enter, 4 follow, 5 gift (`GiftCount` is already the
//! increment), 6 room stats, 8 share, 9 live end; others are ignored.
//!
//! The bridge forwards every room its host watches, and a room's `RoomId`
//! changes with each broadcast: a room is told apart by its owner
//! (`Owner.UserId` / `Owner.SecUid`). Viewers are Douyin's (`douyin:<id>`).

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::douyin::CNY_PER_DIAMOND;
use super::runner::{Endpoint, Protocol, Step};
use super::{DecodeError, Platform, PlatformEvent, PlatformEventKind, PlatformViewer, StreamState};

pub const DEFAULT_WS_URL: &str = "ws://127.0.0.1:8888";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BarrageGrabArgs {
    /// The bridge's websocket.
    #[arg(long, default_value = DEFAULT_WS_URL)]
    pub ws_url: String,
    /// Only the room of this owner (Owner.UserId); without it (or --owner-sec-uid) every room the bridge sends.
    #[arg(long)]
    pub owner_id: Option<String>,
    /// Only the room of this owner (Owner.SecUid).
    #[arg(long)]
    pub owner_sec_uid: Option<String>,
}

/// Which room's messages to keep.
#[derive(Debug, Clone, Default)]
pub struct OwnerFilter {
    pub owner_id: Option<String>,
    pub owner_sec_uid: Option<String>,
}

impl OwnerFilter {
    fn is_set(&self) -> bool {
        self.owner_id.is_some() || self.owner_sec_uid.is_some()
    }
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn u64_of(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// One bridge message: the events it holds (none for ignored types or
/// other rooms, with the reason in `Err`-free `Ok(None)`).
pub fn decode_message(text: &str, filter: &OwnerFilter) -> Result<Option<PlatformEvent>, DecodeError> {
    let pack: Value = serde_json::from_str(text).map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
    let kind = pack.get("Type").and_then(Value::as_u64).ok_or_else(|| DecodeError::new("no numeric `Type`"))?;
    let data = pack.get("Data").ok_or_else(|| DecodeError::new("no `Data`"))?;
    // Data is a JSON string; accept an object too
    let data: Value = match data {
        Value::String(s) => {
            serde_json::from_str(s).map_err(|e| DecodeError::new(format!("`Data` is not JSON: {e}")))?
        }
        other => other.clone(),
    };
    if filter.is_set() {
        let owner = data.get("Owner");
        let id = text_of(owner.and_then(|o| o.get("UserId")));
        let sec = text_of(owner.and_then(|o| o.get("SecUid")));
        let matches = (filter.owner_id.is_some() && filter.owner_id == id)
            || (filter.owner_sec_uid.is_some() && filter.owner_sec_uid == sec);
        if !matches {
            return Ok(None);
        }
    }
    let viewer = || -> Result<PlatformViewer, DecodeError> {
        let user = data.get("User").filter(|u| u.is_object()).ok_or_else(|| DecodeError::new("no `User`"))?;
        let id =
            text_of(user.get("Id")).filter(|id| id != "0").ok_or_else(|| DecodeError::new("`User` without `Id`"))?;
        let name = user.get("Nickname").and_then(Value::as_str).unwrap_or("");
        Ok(PlatformViewer::new(&Platform::Douyin, id, name))
    };
    let msg_id = text_of(data.get("MsgId")).filter(|id| id != "0");
    let (viewer, kind) = match kind {
        1 => {
            let text = data.get("Content").and_then(Value::as_str).unwrap_or("").to_string();
            (Some(viewer()?), PlatformEventKind::Comment { text })
        }
        2 => (Some(viewer()?), PlatformEventKind::Like { count: u64_of(data.get("Count")).max(1) }),
        3 => (Some(viewer()?), PlatformEventKind::Join),
        4 => (Some(viewer()?), PlatformEventKind::Follow),
        5 => {
            let count = u64_of(data.get("GiftCount"));
            if count == 0 {
                return Ok(None);
            }
            let diamonds = u64_of(data.get("DiamondCount"));
            let kind = PlatformEventKind::Gift {
                gift_id: text_of(data.get("GiftId")).unwrap_or_default(),
                name: data.get("GiftName").and_then(Value::as_str).unwrap_or("").to_string(),
                count,
                value_cny: diamonds as f64 * count as f64 * CNY_PER_DIAMOND,
                combo: text_of(data.get("GroupId")).map(|group| super::Combo {
                    group,
                    total: u64_of(data.get("RepeatCount")),
                    ended: false,
                }),
            };
            (Some(viewer()?), kind)
        }
        6 => {
            let online = data.get("OnlineUserCount").map(|v| u64_of(Some(v)));
            let total = data.get("TotalUserCount").map(|v| u64_of(Some(v)));
            (None, PlatformEventKind::RoomStats { online, total })
        }
        8 => (Some(viewer()?), PlatformEventKind::Share),
        9 => (None, PlatformEventKind::Stream { state: StreamState::Ended }),
        _ => return Ok(None),
    };
    Ok(Some(PlatformEvent { platform: Platform::Douyin, msg_id, viewer, kind }))
}

pub struct BarrageGrab {
    args: BarrageGrabArgs,
    filter: OwnerFilter,
}

impl BarrageGrab {
    pub fn new(args: BarrageGrabArgs) -> BarrageGrab {
        let filter = OwnerFilter { owner_id: args.owner_id.clone(), owner_sec_uid: args.owner_sec_uid.clone() };
        BarrageGrab { args, filter }
    }
}

impl Protocol for BarrageGrab {
    fn name(&self) -> &'static str {
        "barragegrab"
    }

    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>> {
        Box::pin(async move {
            Ok(Endpoint {
                url: self.args.ws_url.clone(),
                headers: vec![],
                opening: vec![],
                // the bridge needs no heartbeat; a ping keeps idle links open
                heartbeat: Some((Duration::from_secs(20), Message::Ping(Vec::new().into()))),
                awaits_auth: false,
            })
        })
    }

    fn decode(&mut self, message: &Message) -> Step {
        let text = match message {
            Message::Text(text) => text.as_str().to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => return Step::default(),
        };
        let mut step = Step::default();
        match decode_message(&text, &self.filter) {
            Ok(Some(event)) => step.events.push(event),
            Ok(None) => step.ignored.push("barragegrab message of another type or room".into()),
            Err(e) => step.errors.push(e.to_string()),
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A bridge message as BarrageGrab sends it: `Data` is a JSON string.
    /// Built from the JsonEntity field list, not captured.
    pub fn pack(kind: u64, data: Value) -> String {
        json!({"Type": kind, "ProcessName": "直播伴侣", "Data": data.to_string()}).to_string()
    }

    fn owner() -> Value {
        json!({"UserId": "11223344", "SecUid": "MS4wLjABAAAA-owner", "Nickname": "主播"})
    }

    #[test]
    fn bridge_messages_become_douyin_events() {
        let user = json!({"Id": 556677, "Nickname": "小鱼", "DisplayId": "xy"});
        let cases = [
            (
                pack(
                    1,
                    json!({"MsgId": 7260517442466662201u64, "User": user, "Content": "能煮粥吗", "RoomId": 1, "Owner": owner()}),
                ),
                PlatformEventKind::Comment { text: "能煮粥吗".into() },
            ),
            (
                pack(2, json!({"MsgId": 2, "User": user, "Count": 15, "Total": 300, "Owner": owner()})),
                PlatformEventKind::Like { count: 15 },
            ),
            (pack(3, json!({"MsgId": 3, "User": user, "CurrentCount": 50, "Owner": owner()})), PlatformEventKind::Join),
            (pack(4, json!({"MsgId": 4, "User": user, "Owner": owner()})), PlatformEventKind::Follow),
            (
                pack(
                    5,
                    json!({"MsgId": 5, "User": user, "GiftId": 463, "GiftName": "小心心", "GroupId": 99, "GiftCount": 2,
                "RepeatCount": 6, "DiamondCount": 1, "Owner": owner()}),
                ),
                PlatformEventKind::Gift {
                    gift_id: "463".into(),
                    name: "小心心".into(),
                    count: 2,
                    value_cny: 0.2,
                    combo: Some(crate::ingest::adapters::Combo { group: "99".into(), total: 6, ended: false }),
                },
            ),
            (
                pack(
                    6,
                    json!({"OnlineUserCount": 50, "TotalUserCount": 22003, "TotalUserCountStr": "2.2万", "MsgId": 6,
                "User": null, "Content": "当前直播间人数 50，累计直播间人数 2.2万", "RoomId": 7260415920948906807u64, "Owner": owner()}),
                ),
                PlatformEventKind::RoomStats { online: Some(50), total: Some(22003) },
            ),
            (pack(8, json!({"MsgId": 8, "User": user, "ShareType": 1, "Owner": owner()})), PlatformEventKind::Share),
            (
                pack(9, json!({"MsgId": 9, "Content": "直播已结束", "Owner": owner()})),
                PlatformEventKind::Stream { state: StreamState::Ended },
            ),
        ];
        let filter = OwnerFilter { owner_id: Some("11223344".into()), owner_sec_uid: None };
        for (text, expected) in cases {
            let event = decode_message(&text, &filter).unwrap().unwrap_or_else(|| panic!("{text}"));
            assert_eq!(event.kind, expected);
            if let Some(viewer) = &event.viewer {
                assert_eq!(viewer.id, "douyin:556677");
            }
        }
    }

    #[test]
    fn other_rooms_are_told_apart_by_their_owner() {
        let other = json!({"UserId": "999", "SecUid": "other"});
        let text = pack(1, json!({"MsgId": 1, "User": {"Id": 1, "Nickname": "a"}, "Content": "hi", "Owner": other}));
        let by_id = OwnerFilter { owner_id: Some("11223344".into()), owner_sec_uid: None };
        assert_eq!(decode_message(&text, &by_id).unwrap(), None);
        let by_sec = OwnerFilter { owner_id: None, owner_sec_uid: Some("other".into()) };
        assert!(decode_message(&text, &by_sec).unwrap().is_some());
        assert!(decode_message(&text, &OwnerFilter::default()).unwrap().is_some());
    }

    #[test]
    fn bad_bridge_messages_are_reasons() {
        let filter = OwnerFilter::default();
        for text in
            ["", "{", r#"{"Data":"{}"}"#, r#"{"Type":1,"Data":"{not json"}"#, &pack(1, json!({"Content": "no user"}))]
        {
            assert!(decode_message(text, &filter).is_err(), "{text}");
        }
        assert_eq!(decode_message(&pack(13, json!({})), &filter).unwrap(), None);
    }
}
