//! The Kaplan–Meier estimator of §5.3 and §7, with Greenwood's sum, as
//! lifelines `KaplanMeierFitter` computes them.

/// One step: a distinct event time t_j (ms) with n_j at risk and d_j leaves.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Step {
    pub t_ms: i64,
    pub at_risk: u64,
    pub events: u64,
    /// Ŝ just after the step: ∏_{t_i ≤ t_j} (1 − d_i / n_i).
    pub survival: f64,
    /// Greenwood's Σ_{t_i ≤ t_j} d_i / (n_i (n_i − d_i)); a term with
    /// n_i = d_i counts 0, as in lifelines (where Ŝ reaches 0).
    pub greenwood_sum: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KaplanMeier {
    pub steps: Vec<Step>,
    /// Every T, sorted, for at_risk(t) = #{T ≥ t}.
    sorted_durations: Vec<i64>,
}

impl KaplanMeier {
    /// Fit on (T, δ) pairs. At tied times leaves are removed before
    /// censorings: n_j counts every T ≥ t_j.
    pub fn fit(data: impl Iterator<Item = (i64, bool)>) -> KaplanMeier {
        let mut data: Vec<(i64, bool)> = data.collect();
        data.sort_unstable();
        let total = data.len() as u64;
        let mut steps = Vec::new();
        let (mut survival, mut greenwood_sum) = (1.0f64, 0.0f64);
        let mut index = 0;
        while index < data.len() {
            let t = data[index].0;
            let at_risk = total - index as u64;
            let mut end = index;
            let mut events = 0u64;
            while end < data.len() && data[end].0 == t {
                events += data[end].1 as u64;
                end += 1;
            }
            if events > 0 {
                survival *= 1.0 - events as f64 / at_risk as f64;
                if at_risk > events {
                    greenwood_sum += events as f64 / (at_risk as f64 * (at_risk - events) as f64);
                }
                steps.push(Step { t_ms: t, at_risk, events, survival, greenwood_sum });
            }
            index = end;
        }
        KaplanMeier { steps, sorted_durations: data.iter().map(|d| d.0).collect() }
    }

    pub fn n(&self) -> usize {
        self.sorted_durations.len()
    }

    /// (Ŝ(t⁻), Σ(t⁻)): the product and the Greenwood sum over t_j < t.
    pub fn before(&self, t_ms: i64) -> (f64, f64) {
        let steps_before = self.steps.partition_point(|s| s.t_ms < t_ms);
        match steps_before {
            0 => (1.0, 0.0),
            k => (self.steps[k - 1].survival, self.steps[k - 1].greenwood_sum),
        }
    }

    /// at_risk(t) = #{T ≥ t}.
    pub fn at_risk(&self, t_ms: i64) -> u64 {
        (self.sorted_durations.len() - self.sorted_durations.partition_point(|&d| d < t_ms)) as u64
    }

    /// §7 median watch time (ms): the first event time with Ŝ(t) ≤ 0.5 (Ŝ
    /// right-continuous), and its CI: the first event times where the
    /// log(−log) lower and upper bands are ≤ 0.5 (lifelines
    /// `median_survival_times(kmf.confidence_interval_)`). `None` where
    /// never reached.
    pub fn median_with_ci(&self, z: f64) -> (Option<i64>, Option<i64>, Option<i64>) {
        let mut median = None;
        let mut lower = None;
        let mut upper = None;
        for step in &self.steps {
            let (band_low, band_high) = loglog_interval(step.survival, step.greenwood_sum, z);
            if median.is_none() && step.survival <= 0.5 {
                median = Some(step.t_ms);
            }
            if lower.is_none() && band_low <= 0.5 {
                lower = Some(step.t_ms);
            }
            if upper.is_none() && band_high <= 0.5 {
                upper = Some(step.t_ms);
            }
            if upper.is_some() {
                break;
            }
        }
        (median, lower, upper)
    }
}

/// §7 the log(−log) ("exponential Greenwood") interval of Ŝ with Greenwood
/// sum Σ: exp(−exp(log(−log Ŝ) ∓ z·√Σ / log Ŝ)). Where the formula is 0/0
/// (Ŝ = 1) the band is [1, 1], as lifelines fills it; at Ŝ = 0 it is [0, 0].
pub fn loglog_interval(survival: f64, greenwood_sum: f64, z: f64) -> (f64, f64) {
    let log_s = survival.ln();
    let center = (-log_s).ln();
    let spread = z * greenwood_sum.sqrt() / log_s;
    let lower = (-(center - spread).exp()).exp();
    let upper = (-(center + spread).exp()).exp();
    (if lower.is_nan() { 1.0 } else { lower }, if upper.is_nan() { 1.0 } else { upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_removed_before_censorings_at_tied_times() {
        // T: 10 (leave), 10 (censored), 20 (leave), 30 (censored)
        let km = KaplanMeier::fit([(10, true), (10, false), (20, true), (30, false)].into_iter());
        assert_eq!(km.steps.len(), 2);
        assert_eq!((km.steps[0].at_risk, km.steps[0].events), (4, 1));
        // n at 20 is #{T ≥ 20} = 2: the censoring at 10 left the risk set after the leave
        assert_eq!((km.steps[1].at_risk, km.steps[1].events), (2, 1));
        assert!((km.steps[1].survival - 0.75 * 0.5).abs() < 1e-15);
        // Greenwood: 1/(4·3) + 1/(2·1)
        assert!((km.steps[1].greenwood_sum - (1.0 / 12.0 + 0.5)).abs() < 1e-15);
        assert_eq!(km.before(10), (1.0, 0.0));
        assert_eq!(km.before(11).0, 0.75);
        assert_eq!(km.at_risk(10), 4);
        assert_eq!(km.at_risk(11), 2);
        assert_eq!(km.at_risk(31), 0);
    }

    #[test]
    fn the_loglog_band_is_one_before_the_first_leave_and_zero_once_everyone_left() {
        assert_eq!(loglog_interval(1.0, 0.0, 1.96), (1.0, 1.0));
        assert_eq!(loglog_interval(0.0, 0.3, 1.96), (0.0, 0.0));
        let (low, high) = loglog_interval(0.6, 0.01, 1.959963984540054);
        assert!(low < 0.6 && 0.6 < high);
    }
}
