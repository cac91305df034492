//! Ingest: viewer events from outside (HTTP, websocket, the crowd
//! simulator) are validated here, as a whole batch, before any is logged.
//! A batch with one bad event is refused whole with a stable error code and
//! the index of the event; nothing of it is logged.

pub mod adapters;
pub mod simulator;

use serde::Deserialize;
use serde_json::Value;

use crate::events::{Event, Viewer};

/// Most events in one request or websocket message.
pub const MAX_BATCH: usize = 1000;
/// Longest comment, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
const MAX_ID_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct IngestError {
    /// Stable snake_case code (see `api::error`).
    pub code: &'static str,
    pub message: String,
    /// Index of the offending event in the batch, if one is to blame.
    pub index: Option<usize>,
}

fn bad(code: &'static str, index: Option<usize>, message: impl Into<String>) -> IngestError {
    IngestError { code, message: message.into(), index }
}

/// One viewer event as clients send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    viewer_id: Option<Value>,
    #[serde(default)]
    viewer_name: Option<String>,
    #[serde(default)]
    platform_msg_id: Option<Value>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    count: Option<Value>,
    #[serde(default)]
    gift: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    product_id: Option<String>,
    #[serde(default)]
    quantity: Option<Value>,
    #[serde(default)]
    amount: Option<Value>,
}

/// Parse a request body: one event object or an array of them.
pub fn parse_body(body: &[u8]) -> Result<Vec<Event>, IngestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad("malformed_json", None, format!("body is not valid JSON: {e}")))?;
    parse_value(value)
}

pub fn parse_value(value: Value) -> Result<Vec<Event>, IngestError> {
    let items = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(bad("invalid_event", None, "body must be an event object or an array of events")),
    };
    if items.is_empty() {
        return Err(bad("empty_batch", None, "the batch holds no events"));
    }
    if items.len() > MAX_BATCH {
        return Err(bad("batch_too_large", None, format!("at most {MAX_BATCH} events per batch, got {}", items.len())));
    }
    items.into_iter().enumerate().map(|(i, item)| parse_one(item, i)).collect()
}

fn parse_one(item: Value, index: usize) -> Result<Event, IngestError> {
    let at = Some(index);
    if !item.is_object() {
        return Err(bad("invalid_event", at, format!("event {index} is not a JSON object")));
    }
    if item.get("type").is_none() {
        return Err(bad("missing_field", at, format!("event {index}: field `type` is required")));
    }
    let w: WireEvent =
        serde_json::from_value(item).map_err(|e| bad("invalid_event", at, format!("event {index}: {e}")))?;
    let kind = w.kind.as_str();
    if !matches!(kind, "join" | "leave" | "comment" | "like" | "gift" | "follow" | "order") {
        return Err(bad(
            "unknown_event_type",
            at,
            format!(
                "event {index}: unknown type {kind:?} (expected join, leave, comment, like, gift, follow or order)"
            ),
        ));
    }
    let viewer = viewer(&w, index)?;
    let event =
        match kind {
            "join" => Event::ViewerJoined { viewer, variant: None },
            "leave" => Event::ViewerLeft { viewer },
            "follow" => Event::ViewerFollowed { viewer },
            "comment" => {
                let text = w.text.as_deref().map(str::trim).unwrap_or("");
                if w.text.is_none() {
                    return Err(bad("missing_field", at, format!("event {index}: a comment needs `text`")));
                }
                if text.is_empty() {
                    return Err(bad("invalid_field", at, format!("event {index}: `text` is empty")));
                }
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(bad(
                        "invalid_field",
                        at,
                        format!("event {index}: `text` is longer than {MAX_TEXT_CHARS} characters"),
                    ));
                }
                Event::ViewerCommented { viewer, text: text.to_string() }
            }
            "like" => Event::ViewerLiked { viewer, count: count(&w.count, "count", 1, 1_000_000, index)? },
            "gift" => {
                let gift = w.gift.clone().filter(|g| !g.trim().is_empty()).ok_or_else(|| {
                    bad("missing_field", at, format!("event {index}: a gift needs `gift` (its name)"))
                })?;
                let count = count(&w.count, "count", 1, 1_000_000, index)?;
                let value = money(&w.value, "value", index)?;
                Event::ViewerGifted { viewer, gift, count, value }
            }
            "order" => {
                let product_id =
                    w.product_id.clone().filter(|p| !p.trim().is_empty()).ok_or_else(|| {
                        bad("missing_field", at, format!("event {index}: an order needs `product_id`"))
                    })?;
                let quantity = count(&w.quantity, "quantity", 1, 100_000, index)?;
                let amount = money(&w.amount, "amount", index)?;
                Event::ViewerOrdered { viewer, product_id, quantity, amount }
            }
            _ => unreachable!("kinds were checked above"),
        };
    Ok(event)
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn viewer(w: &WireEvent, index: usize) -> Result<Viewer, IngestError> {
    let at = Some(index);
    let id = w
        .viewer_id
        .as_ref()
        .ok_or_else(|| bad("missing_field", at, format!("event {index}: `viewer_id` is required")))?;
    let id = id_string(id).filter(|s| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS).ok_or_else(|| {
        bad(
            "invalid_field",
            at,
            format!(
                "event {index}: `viewer_id` must be a non-empty string or number of at most {MAX_ID_CHARS} characters"
            ),
        )
    })?;
    let name = w.viewer_name.clone().unwrap_or_default();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad(
            "invalid_field",
            at,
            format!("event {index}: `viewer_name` is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let platform_msg_id = match &w.platform_msg_id {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = id_string(v).filter(|s| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS).ok_or_else(|| {
                bad(
                    "invalid_field",
                    at,
                    format!("event {index}: `platform_msg_id` must be a non-empty string or number"),
                )
            })?;
            // ids are unique per platform, not across platforms
            Some(match &w.platform {
                Some(p) if !p.is_empty() => format!("{p}:{id}"),
                _ => id,
            })
        }
    };
    Ok(Viewer { id, name, platform_msg_id })
}

fn count(v: &Option<Value>, field: &str, default: u32, max: u32, index: usize) -> Result<u32, IngestError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(c) if c >= 1 && c <= u64::from(max) => Ok(c as u32),
            _ => Err(bad(
                "invalid_field",
                Some(index),
                format!("event {index}: `{field}` must be an integer from 1 to {max}"),
            )),
        },
        Some(_) => Err(bad("invalid_field", Some(index), format!("event {index}: `{field}` must be an integer"))),
    }
}

fn money(v: &Option<Value>, field: &str, index: usize) -> Result<f64, IngestError> {
    match v {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && (0.0..=1e9).contains(&x) => Ok(x),
            _ => Err(bad(
                "invalid_field",
                Some(index),
                format!("event {index}: `{field}` must be a number from 0 to 1e9"),
            )),
        },
        Some(_) => Err(bad("invalid_field", Some(index), format!("event {index}: `{field}` must be a number"))),
    }
}

/// The experiment variant of a viewer: a stable hash of experiment and
/// viewer id picks one, so a viewer sees the same arm in every session.
pub fn assign_variant(experiment: &crate::events::Experiment, viewer_id: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    if experiment.variants.is_empty() {
        return None;
    }
    let h = Sha256::digest(format!("{}\u{0}{}", experiment.name, viewer_id).as_bytes());
    let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    Some(experiment.variants[(n % experiment.variants.len() as u64) as usize].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_event_refuses_the_batch_and_names_it() {
        let body = br#"[{"type":"comment","viewer_id":"u1","text":"hi"},{"type":"comment","viewer_id":"u2"}]"#;
        let err = parse_body(body).unwrap_err();
        assert_eq!((err.code, err.index), ("missing_field", Some(1)));
    }

    #[test]
    fn rejections_have_stable_codes() {
        let cases: &[(&[u8], &str)] = &[
            (b"{not json", "malformed_json"),
            (b"42", "invalid_event"),
            (b"[]", "empty_batch"),
            (br#"{"type":"dance","viewer_id":"u"}"#, "unknown_event_type"),
            (br#"{"type":"comment","text":"hi"}"#, "missing_field"),
            (br#"{"type":"comment","viewer_id":"u","text":"   "}"#, "invalid_field"),
            (br#"{"type":"like","viewer_id":"u","count":-3}"#, "invalid_field"),
            (br#"{"type":"gift","viewer_id":"u","gift":"rose","value":"NaN"}"#, "invalid_field"),
            (br#"{"type":"comment","viewer_id":"u","text":"hi","colour":"red"}"#, "invalid_event"),
        ];
        for (body, code) in cases {
            assert_eq!(parse_body(body).unwrap_err().code, *code, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn platform_message_ids_are_scoped_by_platform() {
        let events =
            parse_body(br#"{"type":"comment","viewer_id":7,"text":"hi","platform":"bilibili","platform_msg_id":99}"#)
                .unwrap();
        assert_eq!(events[0].platform_msg_id(), Some("bilibili:99"));
        assert_eq!(events[0].viewer().unwrap().id, "7");
    }

    #[test]
    fn variants_are_stable_and_cover_every_arm() {
        let exp = crate::events::Experiment { name: "voice".into(), variants: vec!["a".into(), "b".into()] };
        assert_eq!(assign_variant(&exp, "viewer-1"), assign_variant(&exp, "viewer-1"));
        let arms: std::collections::HashSet<_> =
            (0..50).filter_map(|i| assign_variant(&exp, &format!("v{i}"))).collect();
        assert_eq!(arms.len(), 2);
    }
}
