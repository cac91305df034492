//! A generic JSON websocket feed: every text frame holds one event object
//! or an array of them, and a field mapping (JSON pointers, RFC 6901) says
//! where each field is. The default mapping reads liveroom's own ingest
//! shape (`/type`, `/text`, `/viewer_id`, ...), so a feed of ingest events
//! passes through unchanged.
//!
//! A mapping file (`--mapping feed.json`), every key optional:
//! `{"platform": "kuaishou", "type": "/event", "types": {"danmaku": "comment"},
//!   "text": "/payload/content", "viewer_id": "/user/uid", "viewer_name": "/user/nick",
//!   "msg_id": "/id", "count": "/payload/num", "gift": "/payload/gift_name",
//!   "value": "/payload/price", "value_scale": 0.001, "product_id": "/sku",
//!   "quantity": "/qty", "amount": "/paid", "online": "/online", "total": "/total"}`.
//! `types` maps the feed's type values onto the adapter's kinds (comment,
//! join, leave, like, gift, follow, share, super_chat, order, room_stats,
//! live, preparing, ended); a value not listed is taken as a kind name.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::Message;

use super::runner::{Endpoint, Protocol, Step};
use super::{DecodeError, Platform, PlatformEvent, PlatformEventKind, PlatformViewer, StreamState};

#[derive(Debug, Clone, clap::Args)]
pub struct GenericArgs {
    /// The feed's websocket.
    #[arg(long)]
    pub ws_url: String,
    /// The field mapping (JSON, see docs/adapters.md); without it the feed is read as ingest events.
    #[arg(long)]
    pub mapping: Option<std::path::PathBuf>,
    /// The platform the feed's viewers belong to (overrides the mapping's).
    #[arg(long)]
    pub feed_platform: Option<String>,
    /// A text frame to send after connecting (a subscription), if the feed wants one.
    #[arg(long)]
    pub hello: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedMapping {
    pub platform: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub types: HashMap<String, String>,
    pub text: String,
    pub viewer_id: String,
    pub viewer_name: String,
    pub msg_id: String,
    pub count: String,
    pub gift: String,
    pub gift_id: String,
    pub value: String,
    /// Multiplies `value` and `amount` into CNY (0.001 for values in 1/1000 CNY).
    pub value_scale: f64,
    pub product_id: String,
    pub quantity: String,
    pub amount: String,
    pub online: String,
    pub total: String,
}

impl Default for FeedMapping {
    fn default() -> Self {
        FeedMapping {
            platform: "feed".into(),
            kind: "/type".into(),
            types: HashMap::new(),
            text: "/text".into(),
            viewer_id: "/viewer_id".into(),
            viewer_name: "/viewer_name".into(),
            msg_id: "/platform_msg_id".into(),
            count: "/count".into(),
            gift: "/gift".into(),
            gift_id: "/gift_id".into(),
            value: "/value".into(),
            value_scale: 1.0,
            product_id: "/product_id".into(),
            quantity: "/quantity".into(),
            amount: "/amount".into(),
            online: "/online".into(),
            total: "/total".into(),
        }
    }
}

impl FeedMapping {
    pub fn load(path: &std::path::Path) -> anyhow::Result<FeedMapping> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the mapping {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("bad mapping {}: {e}", path.display()))
    }

    fn string(&self, item: &Value, pointer: &str) -> Option<String> {
        if pointer.is_empty() {
            return None;
        }
        match item.pointer(pointer)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn number(&self, item: &Value, pointer: &str) -> Option<f64> {
        if pointer.is_empty() {
            return None;
        }
        let value = match item.pointer(pointer)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }?;
        (value.is_finite() && value >= 0.0).then_some(value)
    }

    /// One feed item as an event; `Ok(None)` for a type that maps to nothing.
    pub fn decode_item(&self, item: &Value) -> Result<Option<PlatformEvent>, DecodeError> {
        let raw = self.string(item, &self.kind).ok_or_else(|| DecodeError::new(format!("no type at {}", self.kind)))?;
        let kind_name = self.types.get(&raw).cloned().unwrap_or(raw);
        let platform = Platform::Other(self.platform.clone());
        let count = self.number(item, &self.count).map(|c| c as u64);
        let money = |pointer: &str| self.number(item, pointer).map(|v| v * self.value_scale).unwrap_or(0.0);
        let text =
            || self.string(item, &self.text).ok_or_else(|| DecodeError::new(format!("no text at {}", self.text)));
        let kind = match kind_name.as_str() {
            "comment" => PlatformEventKind::Comment { text: text()? },
            "join" => PlatformEventKind::Join,
            "leave" => PlatformEventKind::Leave,
            "like" => PlatformEventKind::Like { count: count.unwrap_or(1).max(1) },
            "follow" => PlatformEventKind::Follow,
            "share" => PlatformEventKind::Share,
            "gift" => PlatformEventKind::Gift {
                gift_id: self.string(item, &self.gift_id).unwrap_or_default(),
                name: self.string(item, &self.gift).unwrap_or_default(),
                count: count.unwrap_or(1),
                value_cny: money(&self.value),
                combo: None,
            },
            "super_chat" => PlatformEventKind::SuperChat { text: text()?, value_cny: money(&self.value) },
            "order" => PlatformEventKind::Order {
                product_id: self
                    .string(item, &self.product_id)
                    .ok_or_else(|| DecodeError::new(format!("an order without a product at {}", self.product_id)))?,
                quantity: self.number(item, &self.quantity).map(|q| q as u64).unwrap_or(1).max(1),
                amount_cny: money(&self.amount),
            },
            "room_stats" => PlatformEventKind::RoomStats {
                online: self.number(item, &self.online).map(|v| v as u64),
                total: self.number(item, &self.total).map(|v| v as u64),
            },
            "live" => PlatformEventKind::Stream { state: StreamState::Live },
            "preparing" => PlatformEventKind::Stream { state: StreamState::Preparing },
            "ended" => PlatformEventKind::Stream { state: StreamState::Ended },
            _ => return Ok(None),
        };
        let room_level = matches!(kind, PlatformEventKind::RoomStats { .. } | PlatformEventKind::Stream { .. });
        let viewer = if room_level {
            None
        } else {
            let id = self
                .string(item, &self.viewer_id)
                .ok_or_else(|| DecodeError::new(format!("no viewer id at {}", self.viewer_id)))?;
            Some(PlatformViewer::new(&platform, id, self.string(item, &self.viewer_name).unwrap_or_default()))
        };
        Ok(Some(PlatformEvent { msg_id: self.string(item, &self.msg_id), platform, viewer, kind }))
    }

    /// One text frame: an object or an array of objects.
    pub fn decode_frame(&self, text: &str) -> Step {
        let mut step = Step::default();
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                step.errors.push(format!("not JSON: {e}"));
                return step;
            }
        };
        let items = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for item in &items {
            match self.decode_item(item) {
                Ok(Some(event)) => step.events.push(event),
                Ok(None) => step.ignored.push("feed item of an unmapped type".into()),
                Err(e) => step.errors.push(e.to_string()),
            }
        }
        step
    }
}

pub struct GenericFeed {
    args: GenericArgs,
    mapping: FeedMapping,
}

impl GenericFeed {
    pub fn new(args: GenericArgs) -> anyhow::Result<GenericFeed> {
        let mut mapping = match &args.mapping {
            Some(path) => FeedMapping::load(path)?,
            None => FeedMapping::default(),
        };
        if let Some(platform) = &args.feed_platform {
            mapping.platform = platform.clone();
        }
        anyhow::ensure!(
            !mapping.platform.is_empty()
                && mapping.platform.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "the feed's platform must be a name of [A-Za-z0-9_-]"
        );
        Ok(GenericFeed { args, mapping })
    }
}

impl Protocol for GenericFeed {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>> {
        Box::pin(async move {
            Ok(Endpoint {
                url: self.args.ws_url.clone(),
                headers: vec![],
                opening: self.args.hello.iter().map(|hello| Message::text(hello.clone())).collect(),
                heartbeat: Some((std::time::Duration::from_secs(20), Message::Ping(Vec::new().into()))),
                awaits_auth: false,
            })
        })
    }

    fn decode(&mut self, message: &Message) -> Step {
        match message {
            Message::Text(text) => self.mapping.decode_frame(text.as_str()),
            Message::Binary(bytes) => self.mapping.decode_frame(&String::from_utf8_lossy(bytes)),
            _ => Step::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_mapping_reads_ingest_events() {
        let step = FeedMapping::default().decode_frame(
            &json!([{"type": "comment", "viewer_id": "u1", "viewer_name": "小鱼", "text": "能煮粥吗", "platform_msg_id": "9"},
                    {"type": "gift", "viewer_id": "u2", "gift": "rose", "count": 3, "value": 1.5}])
            .to_string(),
        );
        assert!(step.errors.is_empty(), "{:?}", step.errors);
        assert_eq!(step.events[0].viewer.as_ref().unwrap().id, "feed:u1");
        assert_eq!(step.events[0].msg_id.as_deref(), Some("9"));
        assert!(matches!(step.events[1].kind, PlatformEventKind::Gift { count: 3, value_cny: 1.5, .. }));
    }

    #[test]
    fn a_mapping_file_points_at_another_feeds_fields() {
        let mapping: FeedMapping = serde_json::from_value(json!({
            "platform": "kuaishou", "type": "/event", "types": {"danmaku": "comment", "present": "gift"},
            "text": "/payload/content", "viewer_id": "/user/uid", "viewer_name": "/user/nick", "msg_id": "/id",
            "count": "/payload/num", "gift": "/payload/gift_name", "value": "/payload/price", "value_scale": 0.001
        }))
        .unwrap();
        let step = mapping.decode_frame(
            &json!([{"event": "danmaku", "id": 1, "user": {"uid": 5, "nick": "阿杰"}, "payload": {"content": "多少钱"}},
                    {"event": "present", "id": 2, "user": {"uid": 5}, "payload": {"gift_name": "花", "num": 2, "price": 2000}},
                    {"event": "unknown_thing", "user": {"uid": 5}}])
            .to_string(),
        );
        assert!(step.errors.is_empty(), "{:?}", step.errors);
        assert_eq!(step.events[0].kind, PlatformEventKind::Comment { text: "多少钱".into() });
        assert_eq!(step.events[0].viewer.as_ref().unwrap().id, "kuaishou:5");
        assert!(matches!(step.events[1].kind, PlatformEventKind::Gift { count: 2, value_cny: 2.0, .. }));
        assert_eq!(step.ignored.len(), 1);
    }

    #[test]
    fn bad_items_are_reasons_and_do_not_lose_good_ones() {
        let step = FeedMapping::default().decode_frame(
            &json!([{"type": "comment", "viewer_id": "u1"}, {"no_type": 1}, {"type": "join", "viewer_id": "u3"}])
                .to_string(),
        );
        assert_eq!((step.errors.len(), step.events.len()), (2, 1));
        assert_eq!(FeedMapping::default().decode_frame("{oops").errors.len(), 1);
    }
}
