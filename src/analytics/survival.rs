//! §5 Retention at W: per-viewer survival data and the four estimators.

use super::commerce::Purchases;
use super::exposure::Exposure;
use super::horizon::Horizons;
use super::km::KaplanMeier;
use super::visits::AnalysisVisit;

/// One viewer of the analysis population (§3.3) with everything §5-§8 need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewerRecord {
    pub variant: u32,
    /// The analysis stream.
    pub session: u32,
    pub exposure_ts: i64,
    /// §5.1 T = visit_end − exposure_ts (ms).
    pub duration: i64,
    /// §5.1 δ: the analysis visit ended with a leave.
    pub left: bool,
    /// §5.1 C = H_analysis_stream − exposure_ts: potential follow-up.
    pub followup: i64,
    pub visits_in_stream: u32,
    pub orders: u32,
    pub gmv: f64,
}

impl ViewerRecord {
    /// §5.2 retained at W: T ≥ W (a leave at exactly W is retained).
    pub fn retained(&self, window_ms: i64) -> bool {
        self.duration >= window_ms
    }

    /// §5.2 status unknown: censored before W.
    pub fn censored_before(&self, window_ms: i64) -> bool {
        !self.left && self.duration < window_ms
    }

    /// §5.3 `mature`: joined at least W before the horizon.
    pub fn mature(&self, window_ms: i64) -> bool {
        self.followup >= window_ms
    }
}

/// §5.1: the records of the population, in viewer order.
pub fn viewer_records(
    exposures: &[Option<Exposure>],
    visits: &[Option<AnalysisVisit>],
    purchases: &[Purchases],
    horizons: &Horizons,
) -> Vec<ViewerRecord> {
    let mut records = Vec::new();
    for (viewer, exposure) in exposures.iter().enumerate() {
        let Some(exposure) = exposure.filter(Exposure::in_population) else { continue };
        // every exposure is a join, so it lies inside a visit of its stream
        let Some(visit) = visits[viewer] else {
            debug_assert!(false, "exposed viewer {viewer} has no analysis visit");
            continue;
        };
        records.push(ViewerRecord {
            variant: exposure.variant,
            session: exposure.session,
            exposure_ts: exposure.exposure_ts,
            duration: visit.end - exposure.exposure_ts,
            left: visit.left,
            followup: horizons.per_session[exposure.session as usize] - exposure.exposure_ts,
            visits_in_stream: visit.visits_in_stream,
            orders: purchases[viewer].orders,
            gmv: purchases[viewer].gmv,
        });
    }
    records
}

/// k of n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proportion {
    pub retained: u64,
    pub n: u64,
}

impl Proportion {
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.retained as f64 / self.n as f64)
    }
}

/// §5.3 for one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    pub viewers: u64,
    pub first_visit_events: u64,
    pub first_visit_censored: u64,
    pub censored_before_window: u64,
    pub viewers_with_2plus_visits: u64,
    /// Ŝ(W⁻) and the curve: from `km`.
    pub km: KaplanMeier,
    pub mature: Proportion,
    pub excl_censored: Proportion,
    pub naive_biased: Proportion,
}

pub fn retention(records: &[&ViewerRecord], window_ms: i64) -> Retention {
    let n = records.len() as u64;
    let retained = records.iter().filter(|r| r.retained(window_ms)).count() as u64;
    let censored_before = records.iter().filter(|r| r.censored_before(window_ms)).count() as u64;
    let mature = records.iter().filter(|r| r.mature(window_ms));
    let mature_n = mature.clone().count() as u64;
    let mature_retained = mature.filter(|r| r.retained(window_ms)).count() as u64;
    let events = records.iter().filter(|r| r.left).count() as u64;
    Retention {
        viewers: n,
        first_visit_events: events,
        first_visit_censored: n - events,
        censored_before_window: censored_before,
        viewers_with_2plus_visits: records.iter().filter(|r| r.visits_in_stream >= 2).count() as u64,
        km: KaplanMeier::fit(records.iter().map(|r| (r.duration, r.left))),
        mature: Proportion { retained: mature_retained, n: mature_n },
        excl_censored: Proportion { retained, n: n - censored_before },
        naive_biased: Proportion { retained, n },
    }
}
