//! Bilibili business messages (op 5 JSON `{cmd, data | info}`) as
//! normalised events. Money: gold coins (金瓜子) are 1/1000 CNY; silver
//! gifts are free (value 0); a super chat's `price` is in CNY.

use serde_json::Value;

use super::pb;
use crate::ingest::adapters::dedup::ComboTracker;
use crate::ingest::adapters::{
    Combo, DecodeError, Platform, PlatformEvent, PlatformEventKind, PlatformViewer, StreamState,
};

/// What the decoder remembers across messages of one room.
#[derive(Debug, Default)]
pub struct CommandState {
    /// `LOG_IN_NOTICE` arrived: the server masks names from now on.
    pub names_masked: bool,
    combos: ComboTracker,
}

/// The result of one command: events, or a command the adapter does not use.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Events(Vec<PlatformEvent>),
    /// A known or unknown command with nothing for the room (its name).
    Ignored(String),
}

/// The command name without its suffix (`DANMU_MSG:4:0:2:2:2:0` -> `DANMU_MSG`).
pub fn command_name(cmd: &str) -> &str {
    cmd.split(':').next().unwrap_or(cmd)
}

pub fn decode_command(body: &[u8], state: &mut CommandState) -> Result<Command, DecodeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::new(format!("message body is not JSON: {e}")))?;
    let cmd = value.get("cmd").and_then(Value::as_str).ok_or_else(|| DecodeError::new("message without `cmd`"))?;
    let name = command_name(cmd);
    let data = value.get("data").unwrap_or(&Value::Null);
    // newer messages carry a top-level id
    let top_id = value.get("msg_id").and_then(id_of);
    let one = |kind, viewer, id: Option<String>| {
        Ok(Command::Events(vec![PlatformEvent {
            platform: Platform::Bilibili,
            msg_id: top_id.clone().or(id),
            viewer,
            kind,
        }]))
    };
    match name {
        "DANMU_MSG" => {
            let info = value.get("info").ok_or_else(|| DecodeError::new("DANMU_MSG without `info`"))?;
            let text = info.get(1).and_then(Value::as_str).ok_or_else(|| DecodeError::new("DANMU_MSG without text"))?;
            let user = info.get(2).ok_or_else(|| DecodeError::new("DANMU_MSG without user"))?;
            let uid = user.get(0).and_then(Value::as_u64).unwrap_or(0);
            let uname = user.get(1).and_then(Value::as_str).unwrap_or("");
            let ts_ms = info.get(0).and_then(|meta| meta.get(4)).and_then(Value::as_u64).unwrap_or(0);
            // the extra JSON of mode_info has the danmaku's own id
            let id_str = info
                .get(0)
                .and_then(|meta| meta.get(15))
                .and_then(|mode| mode.get("extra"))
                .and_then(Value::as_str)
                .and_then(|extra| serde_json::from_str::<Value>(extra).ok())
                .and_then(|extra| extra.get("id_str").and_then(Value::as_str).map(str::to_string))
                .filter(|s| !s.is_empty());
            let id = id_str.or_else(|| (ts_ms > 0).then(|| format!("dm:{uid}:{ts_ms}:{}", short_hash(text))));
            one(PlatformEventKind::Comment { text: text.to_string() }, Some(viewer(uid, uname, state)), id)
        }
        "SEND_GIFT" => {
            let uid = u64_field(data, "uid");
            let gift_id = u64_field(data, "giftId");
            let count = u64_field(data, "num");
            let coin_type = data.get("coin_type").and_then(Value::as_str).unwrap_or("");
            let price = u64_field(data, "price");
            let value_cny = if coin_type == "gold" { (price * count) as f64 / 1000.0 } else { 0.0 };
            let group = str_field(data, "batch_combo_id");
            let combo = if group.is_empty() {
                None
            } else {
                let key = format!("{uid}|{gift_id}|{group}");
                let total = state.combos.add(&key, count);
                Some(Combo { group: group.clone(), total, ended: false })
            };
            let id = str_field(data, "tid");
            let id = (!id.is_empty()).then(|| format!("gift:{id}"));
            one(
                PlatformEventKind::Gift {
                    gift_id: gift_id.to_string(),
                    name: str_field(data, "giftName"),
                    count,
                    value_cny,
                    combo,
                },
                Some(viewer(uid, &str_field(data, "uname"), state)),
                id,
            )
        }
        "COMBO_SEND" => {
            // the combo's summary: only what its SEND_GIFTs did not count yet
            let uid = u64_field(data, "uid");
            let gift_id = u64_field(data, "gift_id");
            let group = str_field(data, "batch_combo_id");
            let total = u64_field(data, "total_num");
            let delta = state.combos.increment(&format!("{uid}|{gift_id}|{group}"), total, true);
            if delta == 0 {
                return Ok(Command::Ignored("COMBO_SEND (counted by its SEND_GIFTs)".into()));
            }
            let coins = u64_field(data, "combo_total_coin");
            let coin_type = data.get("coin_type").and_then(Value::as_str).unwrap_or("gold");
            let unit = if total > 0 && coin_type == "gold" { coins as f64 / total as f64 } else { 0.0 };
            one(
                PlatformEventKind::Gift {
                    gift_id: gift_id.to_string(),
                    name: str_field(data, "gift_name"),
                    count: delta,
                    value_cny: unit * delta as f64 / 1000.0,
                    combo: Some(Combo { group: group.clone(), total, ended: true }),
                },
                Some(viewer(uid, &str_field(data, "uname"), state)),
                Some(format!("combo:{group}:{total}")),
            )
        }
        "INTERACT_WORD" => {
            let uid = u64_field(data, "uid");
            let msg_type = u64_field(data, "msg_type");
            let Some(kind) = interact_kind(msg_type) else {
                return Ok(Command::Ignored(format!("INTERACT_WORD msg_type {msg_type}")));
            };
            let at = data.get("trigger_time").and_then(Value::as_u64).unwrap_or_else(|| u64_field(data, "timestamp"));
            let id = (at > 0).then(|| format!("iw:{uid}:{msg_type}:{at}"));
            one(kind, Some(viewer(uid, &str_field(data, "uname"), state)), id)
        }
        "INTERACT_WORD_V2" => {
            let pb = data
                .get("pb")
                .and_then(Value::as_str)
                .ok_or_else(|| DecodeError::new("INTERACT_WORD_V2 without pb"))?;
            let word = pb::decode_interact_word(pb)?;
            let Some(kind) = interact_kind(word.msg_type) else {
                return Ok(Command::Ignored(format!("INTERACT_WORD_V2 msg_type {}", word.msg_type)));
            };
            let id = (word.timestamp > 0).then(|| format!("iw:{}:{}:{}", word.uid, word.msg_type, word.timestamp));
            one(kind, Some(viewer(word.uid, &word.uname, state)), id)
        }
        "GUARD_BUY" => {
            let uid = u64_field(data, "uid");
            let count = u64_field(data, "num").max(1);
            let level = u64_field(data, "guard_level").min(255) as u8;
            // price is in gold coins per unit
            let value_cny = (u64_field(data, "price") * count) as f64 / 1000.0;
            let at = u64_field(data, "start_time");
            one(
                PlatformEventKind::Guard { level, count, value_cny },
                Some(viewer(uid, &str_field(data, "username"), state)),
                Some(format!("guard:{uid}:{level}:{at}")),
            )
        }
        "SUPER_CHAT_MESSAGE" => {
            let uid = u64_field(data, "uid");
            let name = data.get("user_info").map(|u| str_field(u, "uname")).unwrap_or_default();
            let value_cny = data.get("price").and_then(Value::as_f64).unwrap_or(0.0);
            let id = data.get("id").and_then(id_of).map(|id| format!("sc:{id}"));
            one(
                PlatformEventKind::SuperChat { text: str_field(data, "message"), value_cny },
                Some(viewer(uid, &name, state)),
                id,
            )
        }
        "LIKE_INFO_V3_CLICK" => {
            let uid = u64_field(data, "uid");
            // one click per message; no id, so dedup falls back to content
            one(PlatformEventKind::Like { count: 1 }, Some(viewer(uid, &str_field(data, "uname"), state)), None)
        }
        "WATCHED_CHANGE" => one(
            PlatformEventKind::RoomStats { online: None, total: data.get("num").and_then(Value::as_u64) },
            None,
            None,
        ),
        "ONLINE_RANK_COUNT" => one(
            PlatformEventKind::RoomStats {
                online: data.get("online_count").or(data.get("count")).and_then(Value::as_u64),
                total: None,
            },
            None,
            None,
        ),
        "LIVE" => one(PlatformEventKind::Stream { state: StreamState::Live }, None, None),
        "PREPARING" => one(PlatformEventKind::Stream { state: StreamState::Preparing }, None, None),
        "LOG_IN_NOTICE" => {
            state.names_masked = true;
            tracing::warn!(
                notice = %str_field(data, "notice_msg"),
                "bilibili: the connection is not logged in; names are masked from now on (give --cookie with SESSDATA, --uid and --buvid)"
            );
            Ok(Command::Ignored("LOG_IN_NOTICE".into()))
        }
        other => Ok(Command::Ignored(other.to_string())),
    }
}

/// msg_type of INTERACT_WORD: 1 enter, 2 follow, 3 share, 4 special follow, 5 mutual follow.
fn interact_kind(msg_type: u64) -> Option<PlatformEventKind> {
    match msg_type {
        1 => Some(PlatformEventKind::Join),
        2 | 4 | 5 => Some(PlatformEventKind::Follow),
        3 => Some(PlatformEventKind::Share),
        _ => None,
    }
}

fn viewer(uid: u64, name: &str, state: &CommandState) -> PlatformViewer {
    let masked = state.names_masked || uid == 0 || name.contains("***");
    let id = if uid == 0 { format!("bilibili:masked:{name}") } else { format!("bilibili:{uid}") };
    PlatformViewer { id, name: name.to_string(), name_masked: masked }
}

fn u64_field(data: &Value, key: &str) -> u64 {
    match data.get(key) {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)).unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn str_field(data: &Value, key: &str) -> String {
    data.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}
