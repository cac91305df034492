//! §10 "the project exports a session's events in the §1 JSON Lines shape":
//! liveroom's viewer events and session ends as §1 lines. Decisions, renders
//! and follows have no §1 kind and are left out.

use serde_json::json;

use crate::events::{Envelope, Event};

/// The §1 line of one logged event, if it has a §1 kind.
pub fn export_line(envelope: &Envelope) -> Option<String> {
    let session_id = envelope.session_id.to_string();
    let ts = envelope.ts;
    let line = match &envelope.event {
        Event::ViewerJoined { viewer, variant } => match variant {
            Some(variant) => {
                json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "join", "variant": variant})
            }
            None => json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "join"}),
        },
        Event::ViewerLeft { viewer } => {
            json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "leave"})
        }
        Event::ViewerCommented { viewer, .. } => {
            json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "comment"})
        }
        Event::ViewerLiked { viewer, .. } => {
            json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "like"})
        }
        Event::ViewerGifted { viewer, .. } => {
            json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "gift"})
        }
        Event::ViewerOrdered { viewer, amount, .. } => {
            json!({"ts": ts, "session_id": session_id, "viewer_id": viewer.id, "kind": "purchase", "amount": amount})
        }
        Event::SessionEnded { .. } => json!({"ts": ts, "session_id": session_id, "kind": "stream_end"}),
        _ => return None,
    };
    Some(line.to_string())
}

/// Every §1 line of a session's events, in log order, within [from, to) when given.
pub fn export_session(events: &[Envelope], from: Option<i64>, to: Option<i64>) -> Vec<String> {
    events
        .iter()
        .filter(|e| from.is_none_or(|from| e.ts >= from) && to.is_none_or(|to| e.ts < to))
        .filter_map(export_line)
        .collect()
}
