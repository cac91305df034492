//! The mapping of [`PlatformEvent`]s onto the viewer events that
//! `POST /api/rooms/{room}/events` accepts today (join, leave, comment,
//! like, gift, follow, order). Kinds with no type there yet (share, room
//! stats, stream state, product changes) are returned as unmapped with their
//! name, for the feeder to count and log; nothing is dropped silently.
//! The table is in docs/adapters.md.

use serde_json::{Value, json};

use super::{PlatformEvent, PlatformEventKind};
use crate::ingest::MAX_TEXT_CHARS;

const MAX_ID_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 64;
const MAX_COUNT: u64 = 1_000_000;
const MAX_MONEY: f64 = 1e9;

/// Gift names the room sees for Bilibili's guard levels (大航海).
pub fn guard_name(level: u8) -> &'static str {
    match level {
        1 => "总督",
        2 => "提督",
        3 => "舰长",
        _ => "大航海",
    }
}

/// The gift name a super chat is logged under.
pub const SUPER_CHAT_GIFT: &str = "醒目留言";

/// The result of mapping one platform event.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// Viewer events for the ingest API, in order.
    Events(Vec<Value>),
    /// No ingest type exists for it (yet); the name of its kind.
    Unmapped(&'static str),
}

/// Map `event` onto ingest events; `delivery_id` is the id it travels
/// under (the platform's message id, or one the feeder gave it), scoped by
/// platform at the node, so a retried batch is acknowledged as duplicates.
pub fn map_event(event: &PlatformEvent, delivery_id: &str) -> Mapped {
    let Some(viewer) = &event.viewer else {
        return Mapped::Unmapped(event.kind.name());
    };
    let platform = event.platform.as_str();
    // a masked name is not passed on: the room would speak the asterisks
    let name = if viewer.name_masked { String::new() } else { clip(&viewer.name, MAX_NAME_CHARS) };
    let base = |kind: &str, id: String| {
        json!({
            "type": kind,
            "viewer_id": bounded_id(&viewer.id),
            "viewer_name": name,
            "platform": platform,
            "platform_msg_id": bounded_id(&id),
        })
    };
    let with = |mut value: Value, fields: Value| {
        if let (Some(target), Some(extra)) = (value.as_object_mut(), fields.as_object()) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
        value
    };
    let id = delivery_id.to_string();
    let events = match &event.kind {
        PlatformEventKind::Comment { text } => match comment_text(text) {
            Some(text) => vec![with(base("comment", id), json!({"text": text}))],
            None => return Mapped::Unmapped("empty_comment"),
        },
        PlatformEventKind::Join => vec![base("join", id)],
        PlatformEventKind::Leave => vec![base("leave", id)],
        PlatformEventKind::Follow => vec![base("follow", id)],
        PlatformEventKind::Like { count } => {
            vec![with(base("like", id), json!({"count": count.clamp(&1, &MAX_COUNT)}))]
        }
        PlatformEventKind::Gift { name: gift_name, gift_id, count, value_cny, .. } => {
            if *count == 0 {
                return Mapped::Unmapped("gift_without_increment");
            }
            let label = if gift_name.trim().is_empty() { format!("gift {gift_id}") } else { gift_name.clone() };
            vec![with(
                base("gift", id),
                json!({"gift": clip(&label, MAX_NAME_CHARS), "count": (*count).min(MAX_COUNT), "value": money(*value_cny)}),
            )]
        }
        PlatformEventKind::SuperChat { text, value_cny } => {
            // a super chat is a paid comment: the comment, and a gift of its value
            let mut out = Vec::new();
            if let Some(text) = comment_text(text) {
                out.push(with(base("comment", format!("{id}:comment")), json!({"text": text})));
            }
            out.push(with(
                base("gift", format!("{id}:gift")),
                json!({"gift": SUPER_CHAT_GIFT, "count": 1, "value": money(*value_cny)}),
            ));
            out
        }
        PlatformEventKind::Guard { level, count, value_cny } => vec![with(
            base("gift", id),
            json!({"gift": guard_name(*level), "count": (*count).clamp(1, MAX_COUNT), "value": money(*value_cny)}),
        )],
        PlatformEventKind::Order { product_id, quantity, amount_cny } => {
            if product_id.trim().is_empty() {
                return Mapped::Unmapped("order_without_product");
            }
            vec![with(
                base("order", id),
                json!({"product_id": clip(product_id, MAX_ID_CHARS), "quantity": (*quantity).clamp(1, 100_000), "amount": money(*amount_cny)}),
            )]
        }
        PlatformEventKind::Share
        | PlatformEventKind::ProductChanged { .. }
        | PlatformEventKind::RoomStats { .. }
        | PlatformEventKind::Stream { .. } => return Mapped::Unmapped(event.kind.name()),
    };
    Mapped::Events(events)
}

fn comment_text(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(clip(text, MAX_TEXT_CHARS))
}

fn money(value: f64) -> f64 {
    if value.is_finite() { value.clamp(0.0, MAX_MONEY) } else { 0.0 }
}

/// At most `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// An id of at most 128 characters: a longer one is replaced by its hash.
pub fn bounded_id(id: &str) -> String {
    if id.chars().count() <= MAX_ID_CHARS && !id.trim().is_empty() {
        return id.to_string();
    }
    use sha2::{Digest, Sha256};
    format!("h:{}", hex::encode(&Sha256::digest(id.as_bytes())[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::adapters::{Platform, PlatformViewer};

    fn event(kind: PlatformEventKind) -> PlatformEvent {
        PlatformEvent {
            platform: Platform::Bilibili,
            msg_id: Some("m1".into()),
            viewer: Some(PlatformViewer::new(&Platform::Bilibili, 42, "小鱼")),
            kind,
        }
    }

    fn ingest(mapped: Mapped) -> Vec<crate::events::Event> {
        let Mapped::Events(events) = mapped else { panic!("expected events, got {mapped:?}") };
        crate::ingest::parse_value(Value::Array(events)).expect("the node accepts what the mapping makes")
    }

    #[test]
    fn a_super_chat_becomes_a_comment_and_a_gift_of_its_value() {
        let events =
            ingest(map_event(&event(PlatformEventKind::SuperChat { text: "能煮粥吗".into(), value_cny: 30.0 }), "m1"));
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], crate::events::Event::ViewerCommented { text, .. } if text == "能煮粥吗"));
        assert!(
            matches!(&events[1], crate::events::Event::ViewerGifted { gift, value, .. } if gift == SUPER_CHAT_GIFT && *value == 30.0)
        );
        assert_eq!(events[0].platform_msg_id(), Some("bilibili:m1:comment"));
        assert_eq!(events[1].viewer().unwrap().id, "bilibili:42");
    }

    #[test]
    fn a_guard_purchase_becomes_a_gift_named_by_its_level() {
        let events = ingest(map_event(&event(PlatformEventKind::Guard { level: 3, count: 2, value_cny: 396.0 }), "m1"));
        assert!(
            matches!(&events[0], crate::events::Event::ViewerGifted { gift, count: 2, value, .. } if gift == "舰长" && *value == 396.0)
        );
    }

    #[test]
    fn kinds_without_an_ingest_type_are_reported_unmapped() {
        for kind in [
            PlatformEventKind::Share,
            PlatformEventKind::RoomStats { online: Some(3), total: None },
            PlatformEventKind::Stream { state: crate::ingest::adapters::StreamState::Ended },
            PlatformEventKind::ProductChanged { product_id: None, detail: "x".into() },
            PlatformEventKind::Comment { text: "   ".into() },
        ] {
            assert!(matches!(map_event(&event(kind.clone()), "m1"), Mapped::Unmapped(_)), "{kind:?}");
        }
    }

    #[test]
    fn oversized_fields_are_clipped_so_the_node_never_refuses_them() {
        let mut e = event(PlatformEventKind::Comment { text: "问".repeat(900) });
        e.viewer.as_mut().unwrap().name = "名".repeat(200);
        e.viewer.as_mut().unwrap().id = format!("bilibili:{}", "9".repeat(300));
        let events = ingest(map_event(&e, &"x".repeat(400)));
        assert!(
            matches!(&events[0], crate::events::Event::ViewerCommented { text, .. } if text.chars().count() == 500)
        );
    }

    #[test]
    fn masked_names_are_not_passed_on() {
        let mut e = event(PlatformEventKind::Join);
        e.viewer.as_mut().unwrap().name = "提***".into();
        e.viewer.as_mut().unwrap().name_masked = true;
        let events = ingest(map_event(&e, "m1"));
        assert_eq!(events[0].viewer().unwrap().name, "");
    }
}
