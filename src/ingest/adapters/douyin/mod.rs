//! Douyin webcast (FIELD §4.2): binary `PushFrame`s whose gzip payload is
//! a `Response` of `Message`s; an ack frame when `needAck`, heartbeat
//! frames (`payloadType` "hb"). The connection's parameters (the signed ws
//! URL, cookies, user agent) come from the operator: the adapter never
//! scrapes a page nor computes a signature.
//!
//! Gifts: a combo resends its running `repeatCount` (times `groupCount`);
//! each message counts only the increment over the last one of the same
//! (user, gift, group), so a replay after a reconnect counts nothing twice.
//! Money: diamonds (抖币) at 0.1 CNY each.

pub mod build;
pub mod proto;

use std::io::Read;
use std::time::Duration;

use futures_util::future::BoxFuture;
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

use super::dedup::ComboTracker;
use super::runner::{Endpoint, Protocol, Step};
use super::{
    Combo, DecodeError, MAX_INFLATED_BYTES, Platform, PlatformEvent, PlatformEventKind, PlatformViewer, StreamState,
};

pub const DEFAULT_WS_URL: &str = "wss://webcast100-ws-web-lq.douyin.com/webcast/im/push/v2/";
/// CNY per diamond (抖币).
pub const CNY_PER_DIAMOND: f64 = 0.1;

#[derive(Debug, Clone, clap::Args)]
pub struct DouyinArgs {
    /// The push server; a URL that already has `room_id` in its query is used as given.
    #[arg(long, default_value = DEFAULT_WS_URL)]
    pub ws_url: String,
    /// The numeric room id (not the web_rid of the page URL).
    #[arg(long)]
    pub room_id: Option<String>,
    /// The websocket signature, computed by the operator for these parameters and user agent.
    #[arg(long)]
    pub signature: Option<String>,
    /// Cookie header (at least ttwid=...).
    #[arg(long, env = "LIVEROOM_DOUYIN_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// The user agent the signature was computed with.
    #[arg(long, default_value = crate::ingest::adapters::bilibili::USER_AGENT)]
    pub user_agent: String,
    /// More query parameters, `k=v&k2=v2` (internal_ext, cursor, user_unique_id...).
    #[arg(long, default_value = "")]
    pub extra_query: String,
    /// Seconds between heartbeat frames.
    #[arg(long, default_value_t = 10)]
    pub heartbeat_secs: u64,
}

impl DouyinArgs {
    /// The websocket URL with the webcast parameters.
    pub fn url(&self) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.ws_url)?;
        if url.query_pairs().any(|(k, _)| k == "room_id") {
            return Ok(url.to_string());
        }
        let Some(room_id) = &self.room_id else {
            anyhow::bail!("--room-id is needed unless --ws-url already holds room_id");
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in [
                ("app_name", "douyin_web"),
                ("version_code", "180800"),
                ("webcast_sdk_version", "1.0.14-beta.0"),
                ("update_version_code", "1.0.14-beta.0"),
                ("compress", "gzip"),
                ("device_platform", "web"),
                ("cookie_enabled", "true"),
                ("browser_language", "zh-CN"),
                ("browser_platform", "Win32"),
                ("browser_name", "Mozilla"),
                ("browser_online", "true"),
                ("tz_name", "Asia/Shanghai"),
                ("host", "https://live.douyin.com"),
                ("aid", "6383"),
                ("live_id", "1"),
                ("did_rule", "3"),
                ("endpoint", "live_pc"),
                ("support_wrds", "1"),
                ("im_path", "/webcast/im/fetch/"),
                ("identity", "audience"),
                ("need_persist_msg_count", "15"),
                ("heartbeatDuration", "0"),
            ] {
                query.append_pair(k, v);
            }
            query.append_pair("room_id", room_id);
            if let Some(signature) = &self.signature {
                query.append_pair("signature", signature);
            }
            for pair in self.extra_query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.append_pair(k, v);
            }
        }
        Ok(url.to_string())
    }
}

/// The decoder's memory: gift combos.
#[derive(Debug, Default)]
pub struct DouyinDecoder {
    combos: ComboTracker,
}

/// The heartbeat frame.
pub fn heartbeat_frame() -> Vec<u8> {
    proto::PushFrame { payload_type: "hb".into(), ..Default::default() }.encode_to_vec()
}

/// The ack of a frame that asked for one: its log id, and the response's internal_ext.
pub fn ack_frame(log_id: u64, internal_ext: &str) -> Vec<u8> {
    proto::PushFrame {
        log_id,
        payload_type: "ack".into(),
        payload: internal_ext.as_bytes().to_vec(),
        ..Default::default()
    }
    .encode_to_vec()
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::new(format!("payload does not gunzip: {e}")))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(DecodeError::new(format!("payload inflates past {MAX_INFLATED_BYTES} bytes")));
    }
    Ok(out)
}

impl DouyinDecoder {
    /// One websocket frame: events, and the ack to send once they are buffered.
    pub fn decode(&mut self, bytes: &[u8]) -> Step {
        let mut step = Step::default();
        let frame = match proto::PushFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                step.errors.push(format!("not a PushFrame: {e}"));
                return step;
            }
        };
        match frame.payload_type.as_str() {
            "hb" | "ack" => return step,
            "close" => {
                step.close = Some("the server sent a close frame".into());
                return step;
            }
            "msg" | "" => {}
            other => {
                step.ignored.push(format!("payload type {other:?}"));
                return step;
            }
        }
        let gzipped = frame.headers.iter().any(|h| h.key == "compress_type" && h.value == "gzip")
            || frame.payload.starts_with(&[0x1f, 0x8b]);
        let payload = if gzipped {
            match gunzip(&frame.payload) {
                Ok(payload) => payload,
                Err(e) => {
                    step.errors.push(e.to_string());
                    return step;
                }
            }
        } else {
            frame.payload
        };
        let response = match proto::Response::decode(payload.as_slice()) {
            Ok(response) => response,
            Err(e) => {
                step.errors.push(format!("payload is not a Response: {e}"));
                return step;
            }
        };
        for message in &response.messages {
            match self.decode_message(message) {
                Ok(Some(event)) => step.events.push(event),
                Ok(None) => step.ignored.push(message.method.clone()),
                Err(e) => step.errors.push(format!("{}: {e}", message.method)),
            }
        }
        if response.need_ack {
            step.replies.push(Message::binary(ack_frame(frame.log_id, &response.internal_ext)));
        }
        step
    }

    fn decode_message(&mut self, message: &proto::Message) -> Result<Option<PlatformEvent>, DecodeError> {
        fn parse<T: prost::Message + Default>(payload: &[u8]) -> Result<T, DecodeError> {
            T::decode(payload).map_err(|e| DecodeError::new(format!("payload does not decode: {e}")))
        }
        let payload = message.payload.as_slice();
        let id_of = |common: &Option<proto::Common>| {
            let id = if message.msg_id != 0 { message.msg_id as u64 } else { common.as_ref().map_or(0, |c| c.msg_id) };
            (id != 0).then(|| id.to_string())
        };
        let event = |msg_id, viewer, kind| Some(PlatformEvent { platform: Platform::Douyin, msg_id, viewer, kind });
        Ok(match message.method.as_str() {
            "WebcastChatMessage" => {
                let chat: proto::ChatMessage = parse(payload)?;
                event(id_of(&chat.common), Some(viewer(&chat.user)?), PlatformEventKind::Comment { text: chat.content })
            }
            "WebcastGiftMessage" => {
                let gift: proto::GiftMessage = parse(payload)?;
                let who = viewer(&gift.user)?;
                let info = gift.gift.clone().unwrap_or_default();
                let gift_id = if gift.gift_id != 0 { gift.gift_id } else { info.id };
                let total = gift.repeat_count.max(1).saturating_mul(gift.group_count.max(1));
                let group = gift.group_id.to_string();
                let key = format!("{}|{gift_id}|{group}", who.id);
                let ended = gift.repeat_end == 1;
                let delta = self.combos.increment(&key, total, ended);
                if delta == 0 {
                    return Ok(None);
                }
                let name = if info.name.is_empty() { format!("gift {gift_id}") } else { info.name };
                event(
                    id_of(&gift.common),
                    Some(who),
                    PlatformEventKind::Gift {
                        gift_id: gift_id.to_string(),
                        name,
                        count: delta,
                        value_cny: f64::from(info.diamond_count) * delta as f64 * CNY_PER_DIAMOND,
                        combo: Some(Combo { group, total, ended }),
                    },
                )
            }
            "WebcastLikeMessage" => {
                let like: proto::LikeMessage = parse(payload)?;
                event(
                    id_of(&like.common),
                    Some(viewer(&like.user)?),
                    PlatformEventKind::Like { count: like.count.max(1) },
                )
            }
            "WebcastMemberMessage" => {
                let member: proto::MemberMessage = parse(payload)?;
                event(id_of(&member.common), Some(viewer(&member.user)?), PlatformEventKind::Join)
            }
            "WebcastSocialMessage" => {
                let social: proto::SocialMessage = parse(payload)?;
                // action 1 is a follow; a share carries its target in shareType
                let kind = match (social.action, social.share_type) {
                    (1, _) => PlatformEventKind::Follow,
                    (_, share) if share > 0 => PlatformEventKind::Share,
                    _ => return Ok(None),
                };
                event(id_of(&social.common), Some(viewer(&social.user)?), kind)
            }
            "WebcastRoomUserSeqMessage" => {
                let seq: proto::RoomUserSeqMessage = parse(payload)?;
                let kind = PlatformEventKind::RoomStats { online: Some(seq.total), total: Some(seq.total_user) };
                event(id_of(&seq.common), None, kind)
            }
            "WebcastControlMessage" => {
                let control: proto::ControlMessage = parse(payload)?;
                if control.status != 3 {
                    return Ok(None);
                }
                event(id_of(&control.common), None, PlatformEventKind::Stream { state: StreamState::Ended })
            }
            "WebcastLiveShoppingMessage" => {
                let shopping: proto::LiveShoppingMessage = parse(payload)?;
                let kind = PlatformEventKind::ProductChanged {
                    product_id: (shopping.promotion_id != 0).then(|| shopping.promotion_id.to_string()),
                    detail: format!("live shopping message type {}", shopping.msg_type),
                };
                event(id_of(&shopping.common), None, kind)
            }
            "WebcastProductChangeMessage" => {
                let change: proto::ProductChangeMessage = parse(payload)?;
                let kind = PlatformEventKind::ProductChanged {
                    product_id: None,
                    detail: format!("{} ({} products)", change.update_toast, change.total),
                };
                event(id_of(&change.common), None, kind)
            }
            _ => None,
        })
    }
}

fn viewer(user: &Option<proto::User>) -> Result<PlatformViewer, DecodeError> {
    let user = user.as_ref().ok_or_else(|| DecodeError::new("message without its user"))?;
    if user.id == 0 {
        return Err(DecodeError::new("user without an id"));
    }
    Ok(PlatformViewer::new(&Platform::Douyin, user.id, user.nick_name.clone()))
}

/// The Douyin webcast client.
pub struct Douyin {
    args: DouyinArgs,
    decoder: DouyinDecoder,
}

impl Douyin {
    pub fn new(args: DouyinArgs) -> Douyin {
        Douyin { args, decoder: DouyinDecoder::default() }
    }
}

impl Protocol for Douyin {
    fn name(&self) -> &'static str {
        "douyin"
    }

    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>> {
        Box::pin(async move {
            let mut headers = vec![("user-agent".to_string(), self.args.user_agent.clone())];
            if let Some(cookie) = &self.args.cookie {
                headers.push(("cookie".into(), cookie.clone()));
            }
            Ok(Endpoint {
                url: self.args.url()?,
                headers,
                opening: vec![],
                heartbeat: Some((
                    Duration::from_secs(self.args.heartbeat_secs.max(1)),
                    Message::binary(heartbeat_frame()),
                )),
                awaits_auth: false,
            })
        })
    }

    fn decode(&mut self, message: &Message) -> Step {
        match message {
            Message::Binary(bytes) => self.decoder.decode(bytes),
            _ => Step { errors: vec!["douyin sends binary frames; got another kind".into()], ..Step::default() },
        }
    }
}

#[cfg(test)]
mod tests;
