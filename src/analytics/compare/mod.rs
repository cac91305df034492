//! §8 Comparisons, each treatment B against the control A: every
//! difference is B − A, every relative lift (B − A)/A.

pub mod cluster;
pub mod curves;
pub mod multiple;
pub mod srm;
pub mod two_sample;

use serde_json::{Value, json};

use super::per_variant::VariantStats;
use super::survival::ViewerRecord;
use cluster::Cluster;
pub use two_sample::Settings;

/// One test's figures. `diff, diff_ci, p_value, rel_lift, rel_lift_ci` are
/// always there (null when undefined); the `seq_*` and `chance_to_win`
/// fields only where applicable (`None` = not applicable, `Some(None)` =
/// applicable but undefined); `extra` holds test-specific keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub diff: Option<f64>,
    pub diff_ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub rel_lift: Option<f64>,
    pub rel_lift_ci: Option<[f64; 2]>,
    pub seq_diff_ci: Option<Option<[f64; 2]>>,
    pub seq_p_value: Option<Option<f64>>,
    pub chance_to_win: Option<Option<f64>>,
    pub extra: Vec<(&'static str, Value)>,
}

impl TestResult {
    pub fn empty() -> TestResult {
        TestResult {
            diff: None,
            diff_ci: None,
            p_value: None,
            rel_lift: None,
            rel_lift_ci: None,
            seq_diff_ci: None,
            seq_p_value: None,
            chance_to_win: None,
            extra: Vec::new(),
        }
    }

    /// §9 the test as JSON.
    pub fn to_json(&self) -> Value {
        let mut object = json!({
            "diff": self.diff,
            "diff_ci": self.diff_ci,
            "p_value": self.p_value,
            "rel_lift": self.rel_lift,
            "rel_lift_ci": self.rel_lift_ci,
        });
        if let Some(seq) = self.seq_diff_ci {
            object["seq_diff_ci"] = json!(seq);
        }
        if let Some(seq) = self.seq_p_value {
            object["seq_p_value"] = json!(seq);
        }
        if let Some(chance) = self.chance_to_win {
            object["chance_to_win"] = json!(chance);
        }
        for (key, value) in &self.extra {
            object[*key] = value.clone();
        }
        object
    }
}

/// §8 everything for one treatment against the control.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub control: String,
    pub treatment: String,
    pub mature_ztest: TestResult,
    pub excl_censored_ztest: TestResult,
    pub km: TestResult,
    pub logrank_full: TestResult,
    pub logrank_0_to_window: TestResult,
    pub cox_hr_0_to_window: TestResult,
    pub conversion: TestResult,
    pub gmv_per_viewer: TestResult,
    /// Median watch time B − A (s), when both medians are reached.
    pub median_watch_s_diff: Option<f64>,
}

impl Comparison {
    /// §9's key: "B_vs_A".
    pub fn key(&self) -> String {
        format!("{}_vs_{}", self.treatment, self.control)
    }
}

fn survival_data(records: &[&ViewerRecord]) -> Vec<(i64, bool)> {
    records.iter().map(|r| (r.duration, r.left)).collect()
}

fn moments(stats: &VariantStats) -> Option<two_sample::Moments> {
    let gmv = &stats.gmv_per_viewer;
    Some(two_sample::Moments { mean: gmv.mean?, variance: gmv.variance?, n: stats.retention.viewers as f64 })
}

/// §8.2-§8.5 for B vs A.
pub fn compare(
    a: (&VariantStats, &[&ViewerRecord]),
    b: (&VariantStats, &[&ViewerRecord]),
    window_ms: i64,
    settings: &Settings,
) -> Comparison {
    let ((stats_a, records_a), (stats_b, records_b)) = (a, b);
    let (data_a, data_b) = (survival_data(records_a), survival_data(records_b));
    let (window_a, window_b) = (curves::censor_at(&data_a, window_ms), curves::censor_at(&data_b, window_ms));
    let gmv = match (moments(stats_a), moments(stats_b)) {
        (Some(m_a), Some(m_b)) => two_sample::welch(m_a, m_b, settings),
        _ => TestResult { seq_diff_ci: Some(None), seq_p_value: Some(None), ..TestResult::empty() },
    };
    Comparison {
        control: stats_a.name.clone(),
        treatment: stats_b.name.clone(),
        mature_ztest: two_sample::proportions(stats_a.mature.counts, stats_b.mature.counts, settings),
        excl_censored_ztest: two_sample::proportions(
            stats_a.excl_censored.counts,
            stats_b.excl_censored.counts,
            settings,
        ),
        km: two_sample::km_at_window(&stats_a.km_at_window, &stats_b.km_at_window, settings),
        logrank_full: curves::logrank(&data_a, &data_b),
        logrank_0_to_window: curves::logrank(&window_a, &window_b),
        cox_hr_0_to_window: curves::cox(&window_a, &window_b, settings.z),
        conversion: two_sample::proportions(stats_a.conversion.counts, stats_b.conversion.counts, settings),
        gmv_per_viewer: gmv,
        median_watch_s_diff: match (stats_a.median_watch_s, stats_b.median_watch_s) {
            (Some(m_a), Some(m_b)) => Some(m_b - m_a),
            _ => None,
        },
    }
}

/// §8.8 the three decision metrics over streams, for one variant's records:
/// (retained & mature / mature), (buyers / viewers), (gmv / viewers).
pub fn clusters_by_stream(records: &[&ViewerRecord], window_ms: i64) -> [Vec<Cluster>; 3] {
    let mut streams: Vec<u32> = records.iter().map(|r| r.session).collect();
    streams.sort_unstable();
    streams.dedup();
    let mut sums = vec![[0.0f64; 5]; streams.len()];
    for record in records {
        // unwrap: every record's stream is in the list
        let slot = &mut sums[streams.binary_search(&record.session).unwrap()];
        let mature = record.mature(window_ms);
        slot[0] += (mature && record.retained(window_ms)) as u8 as f64;
        slot[1] += mature as u8 as f64;
        slot[2] += (record.orders > 0) as u8 as f64;
        slot[3] += 1.0;
        slot[4] += record.gmv;
    }
    let make = |m: usize, d: usize| sums.iter().map(|s| Cluster { numerator: s[m], denominator: s[d] }).collect();
    [make(0, 1), make(2, 3), make(4, 3)]
}
