//! Replay: rebuild a session's state from its log, and check that the
//! policy, run again over the logged inputs, takes exactly the logged
//! decisions. No model, no knowledge base, no renderer is involved.

use serde::Serialize;

use crate::events::{Envelope, Event};
use crate::room::policy;
use crate::room::state::RoomState;

#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub room_id: String,
    pub events: usize,
    pub inputs: usize,
    pub decisions_logged: usize,
    pub decisions_reproduced: usize,
    /// The first differences between logged and re-decided events.
    pub mismatches: Vec<String>,
    /// Digest of the state folded up to the session-ended event.
    pub digest_at_end: Option<String>,
    /// The digest the live room wrote into its session-ended event.
    pub live_digest: Option<String>,
    /// Digest after folding every event.
    pub final_digest: String,
    pub state: RoomState,
}

impl ReplayReport {
    pub fn digest_matches(&self) -> Option<bool> {
        Some(self.digest_at_end.as_ref()? == self.live_digest.as_ref()?)
    }

    pub fn is_consistent(&self) -> bool {
        self.mismatches.is_empty() && self.digest_matches() != Some(false)
    }
}

pub fn replay(events: &[Envelope]) -> ReplayReport {
    let room_id = events.first().map(|e| e.room_id.clone()).unwrap_or_default();
    // 1. the state: a pure fold over every event
    let mut folded = RoomState::new(&room_id);
    let mut digest_at_end = None;
    let mut live_digest = None;
    for e in events {
        if let Event::SessionEnded { state_digest, .. } = &e.event {
            digest_at_end = Some(folded.digest());
            live_digest = Some(state_digest.clone());
        }
        folded.apply(e);
    }
    // 2. the decisions: step the policy over the inputs, compare
    let mut stepped = RoomState::new(&room_id);
    let mut mismatches = Vec::new();
    let (mut inputs, mut logged, mut reproduced) = (0, 0, 0);
    let mut i = 0;
    while i < events.len() {
        let input = &events[i];
        if input.event.is_decision() {
            logged += 1;
            mismatches.push(format!(
                "seq {}: decision {} without an input before it",
                input.seq,
                input.event.type_name()
            ));
            i += 1;
            continue;
        }
        inputs += 1;
        let step = policy::step(&mut stepped, input);
        let mut j = i + 1;
        for expected in &step.decisions {
            match events.get(j) {
                Some(actual) if actual == expected => reproduced += 1,
                Some(actual) => mismatches.push(format!(
                    "seq {}: logged {} but the policy decides {} ({})",
                    actual.seq,
                    serde_json::to_string(&actual.event).unwrap_or_default(),
                    expected.event.type_name(),
                    serde_json::to_string(&expected.event).unwrap_or_default()
                )),
                None => mismatches.push(format!(
                    "after seq {}: the policy decides {} but the log ends",
                    input.seq,
                    expected.event.type_name()
                )),
            }
            j += 1;
        }
        // every decision of this input was compared; another one is extra
        while j < events.len() && events[j].event.is_decision() {
            mismatches.push(format!(
                "seq {}: logged decision {} that the policy does not take",
                events[j].seq,
                events[j].event.type_name()
            ));
            j += 1;
        }
        logged += j - i - 1;
        i = j;
        if mismatches.len() > 20 {
            break;
        }
    }
    let final_digest = folded.digest();
    if stepped.digest() != final_digest && mismatches.is_empty() {
        mismatches.push("the stepped state differs from the folded state".into());
    }
    ReplayReport {
        room_id,
        events: events.len(),
        inputs,
        decisions_logged: logged,
        decisions_reproduced: reproduced,
        mismatches,
        digest_at_end,
        live_digest,
        final_digest,
        state: folded,
    }
}
