//! §4 Visits (presence intervals), per (viewer, stream) pair, folded in one
//! pass over the ordered, observed events with a few bytes per pair.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::exposure::Exposure;
use super::horizon::Horizons;
use super::input::{Event, FxHasher, Kind};

/// §5.1's analysis visit of one viewer: where it ended and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisVisit {
    /// The visit's end: a leave's ts, or H_s when censored.
    pub end: i64,
    /// δ: the visit ended with a leave (else censored at H_s).
    pub left: bool,
    /// Visits of this viewer in the analysis stream (for `viewers_with_2plus_visits`).
    pub visits_in_stream: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VisitCounters {
    pub ignored_duplicate_join: u64,
    pub ignored_orphan_leave: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct PairState {
    /// In an open raw interval.
    present: bool,
    /// The current visit holds the viewer's first exposure.
    analysis_open: bool,
    /// Visits so far (after merging).
    visits: u32,
    /// The ts of the leave that closed the last raw interval.
    last_leave: i64,
}

fn pair_key(viewer: u32, session: u32) -> u64 {
    ((viewer as u64) << 32) | session as u64
}

/// §4.1-§4.4 for every pair, and the analysis visit of every viewer in the
/// population. `grace_ms` is G.
pub fn analysis_visits(
    events: &[Event],
    exposures: &[Option<Exposure>],
    horizons: &Horizons,
    grace_ms: i64,
) -> (Vec<Option<AnalysisVisit>>, VisitCounters) {
    let mut counters = VisitCounters::default();
    let mut pairs: HashMap<u64, PairState, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut result: Vec<Option<AnalysisVisit>> = vec![None; exposures.len()];
    for (index, event) in events.iter().enumerate() {
        if !matches!(event.kind, Kind::Join | Kind::Leave) {
            continue;
        }
        let pair = pairs.entry(pair_key(event.viewer, event.session)).or_default();
        match event.kind {
            Kind::Join if pair.present => counters.ignored_duplicate_join += 1,
            Kind::Join => {
                // §4.3: a re-join within G of the last leave continues the visit
                let continues = pair.visits > 0 && event.ts - pair.last_leave <= grace_ms;
                if !continues {
                    if pair.analysis_open {
                        // the analysis visit ended with that leave
                        result[event.viewer as usize] =
                            Some(AnalysisVisit { end: pair.last_leave, left: true, visits_in_stream: 0 });
                        pair.analysis_open = false;
                    }
                    pair.visits += 1;
                }
                pair.present = true;
            }
            Kind::Leave if pair.present => {
                pair.present = false;
                pair.last_leave = event.ts;
            }
            Kind::Leave => counters.ignored_orphan_leave += 1,
            _ => {}
        }
        // §5.1: the visit that contains the first exposure is the analysis visit
        if event.kind == Kind::Join
            && let Some(exposure) = &exposures[event.viewer as usize]
            && exposure.event_index as usize == index
            && exposure.in_population()
        {
            pair.analysis_open = true;
        }
    }
    // §4.2: intervals still open are censored at H_s; a leave whose grace is
    // cut off by the horizon stays a leave
    for (&key, pair) in &pairs {
        if !pair.analysis_open {
            continue;
        }
        let viewer = (key >> 32) as usize;
        let session = (key & 0xffff_ffff) as usize;
        result[viewer] = Some(if pair.present {
            AnalysisVisit { end: horizons.per_session[session], left: false, visits_in_stream: 0 }
        } else {
            AnalysisVisit { end: pair.last_leave, left: true, visits_in_stream: 0 }
        });
    }
    for (viewer, visit) in result.iter_mut().enumerate() {
        let (Some(visit), Some(exposure)) = (visit, &exposures[viewer]) else { continue };
        visit.visits_in_stream = pairs.get(&pair_key(viewer as u32, exposure.session)).map_or(0, |p| p.visits);
    }
    (result, counters)
}
