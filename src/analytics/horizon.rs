//! §2 Streams, horizon, ordering.

use super::input::{Event, Kind, ParsedLog};

/// §2.1: `as_of` and every stream's horizon H_s.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizons {
    pub as_of: i64,
    /// H_s by interned session id.
    pub per_session: Vec<i64>,
    /// Whether the stream has a `stream_end` (end_s exists).
    pub ended: Vec<bool>,
}

/// §2.1. `as_of` is the argument, or (max ts over accepted lines) + 1 ms;
/// `None` when there is neither.
pub fn horizons(log: &ParsedLog, as_of_argument: Option<i64>) -> Option<Horizons> {
    let as_of = match as_of_argument {
        Some(as_of) => as_of,
        None => log.events.iter().map(|e| e.ts).max()?.saturating_add(1),
    };
    let mut end: Vec<Option<i64>> = vec![None; log.sessions.len()];
    for event in log.events.iter().filter(|e| e.kind == Kind::StreamEnd) {
        let slot = &mut end[event.session as usize];
        // end_s is the smallest ts of the stream's stream_end events
        *slot = Some(slot.map_or(event.ts, |current| current.min(event.ts)));
    }
    Some(Horizons {
        as_of,
        per_session: end.iter().map(|e| e.map_or(as_of, |end| end.min(as_of))).collect(),
        ended: end.iter().map(Option::is_some).collect(),
    })
}

/// §2.2 then §2.3: keep the events with ts < H_s, sorted by (ts, line);
/// the count of the others is `ignored_at_or_after_horizon` (a stream's own
/// `stream_end` included: it sits at its horizon).
pub fn observed_in_order(mut events: Vec<Event>, horizons: &Horizons) -> (Vec<Event>, u64) {
    let before = events.len();
    events.retain(|e| e.ts < horizons.per_session[e.session as usize]);
    let ignored = (before - events.len()) as u64;
    // the events are in line order already: a stable sort by ts is the sort by (ts, line)
    events.sort_by_key(|e| e.ts);
    debug_assert!(events.windows(2).all(|w| (w[0].ts, w[0].line) < (w[1].ts, w[1].line)));
    (events, ignored)
}
