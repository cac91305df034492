//! §7 Per-variant statistics.

use super::commerce::compensated_sum;
use super::km::{KaplanMeier, loglog_interval};
use super::special::t_ppf;
use super::survival::{Proportion, Retention, ViewerRecord, retention};

/// §7 the KM curve's times, in seconds.
pub const CURVE_TIMES_S: [i64; 19] =
    [0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600];

/// A point estimate with its interval (either may be undefined).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: Option<f64>,
    pub ci: Option<[f64; 2]>,
}

/// §7 a proportion with its Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProportionEstimate {
    pub counts: Proportion,
    pub estimate: Estimate,
}

/// §7 the KM curve at one of `CURVE_TIMES_S`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub t_s: i64,
    /// Ŝ(t⁻)
    pub survival: f64,
    pub ci: [f64; 2],
    pub at_risk: u64,
}

/// §7 KM Ŝ(W⁻) with Greenwood's variance and both intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmAtWindow {
    pub value: f64,
    /// Σ_{t_j < W} d_j / (n_j (n_j − d_j)).
    pub greenwood_sum: f64,
    /// V = Ŝ² Σ.
    pub variance: f64,
    pub ci_loglog: [f64; 2],
    pub ci_linear: [f64; 2],
}

/// §7 GMV per viewer: mean, SD (ddof 1), t-interval with n − 1 dof.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmvPerViewer {
    pub mean: Option<f64>,
    /// Sample variance, ddof 1.
    pub variance: Option<f64>,
    pub ci: Option<[f64; 2]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantStats {
    pub name: String,
    pub retention: Retention,
    pub km_at_window: KmAtWindow,
    pub mature: ProportionEstimate,
    pub excl_censored: ProportionEstimate,
    pub naive_biased: ProportionEstimate,
    /// Median watch time (s) and its CI bounds (each may be unreached).
    pub median_watch_s: Option<f64>,
    pub median_watch_ci_s: [Option<f64>; 2],
    pub km_curve: Vec<CurvePoint>,
    pub conversion: ProportionEstimate,
    pub orders: u64,
    pub gmv_total: f64,
    pub gmv_per_viewer: GmvPerViewer,
}

/// §7 Wilson score interval, as statsmodels `proportion_confint(method="wilson")`.
pub fn wilson(counts: Proportion, z: f64) -> Estimate {
    let Some(p) = counts.value() else { return Estimate { value: None, ci: None } };
    let n = counts.n as f64;
    let z_sq = z * z;
    let denominator = 1.0 + z_sq / n;
    let center = (p + z_sq / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z_sq / (4.0 * n * n)).sqrt() / denominator;
    Estimate { value: Some(p), ci: Some([center - half, center + half]) }
}

fn proportion(counts: Proportion, z: f64) -> ProportionEstimate {
    ProportionEstimate { counts, estimate: wilson(counts, z) }
}

/// §7 KM at W⁻ from a fitted curve.
pub fn km_at(km: &KaplanMeier, t_ms: i64, z: f64) -> KmAtWindow {
    let (value, greenwood_sum) = km.before(t_ms);
    let variance = value * value * greenwood_sum;
    let se = variance.sqrt();
    let (low, high) = loglog_interval(value, greenwood_sum, z);
    KmAtWindow { value, greenwood_sum, variance, ci_loglog: [low, high], ci_linear: [value - z * se, value + z * se] }
}

/// Mean and sample variance (ddof 1) in two passes, as numpy computes them.
pub fn mean_and_variance(values: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let mean = compensated_sum(values.iter().copied()) / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let squares = compensated_sum(values.iter().map(|v| (v - mean) * (v - mean)));
    (Some(mean), Some(squares / (n - 1) as f64))
}

/// §7 for one variant. `z` = Φ⁻¹(1 − α/2).
pub fn variant_stats(name: String, records: &[&ViewerRecord], window_ms: i64, alpha: f64, z: f64) -> VariantStats {
    let retention = retention(records, window_ms);
    let km_at_window = km_at(&retention.km, window_ms, z);
    let (median, median_low, median_high) = retention.km.median_with_ci(z);
    let seconds = |ms: Option<i64>| ms.map(|ms| ms as f64 / 1000.0);
    let km_curve = CURVE_TIMES_S
        .iter()
        .map(|&t_s| {
            let (survival, greenwood_sum) = retention.km.before(t_s * 1000);
            let (low, high) = loglog_interval(survival, greenwood_sum, z);
            CurvePoint { t_s, survival, ci: [low, high], at_risk: retention.km.at_risk(t_s * 1000) }
        })
        .collect();
    let viewers = records.len() as u64;
    let purchasers = records.iter().filter(|r| r.orders > 0).count() as u64;
    let gmv: Vec<f64> = records.iter().map(|r| r.gmv).collect();
    let (mean, variance) = mean_and_variance(&gmv);
    let ci = match (mean, variance) {
        (Some(mean), Some(variance)) => {
            let half = t_ppf(1.0 - alpha / 2.0, (viewers - 1) as f64) * (variance / viewers as f64).sqrt();
            Some([mean - half, mean + half])
        }
        _ => None,
    };
    VariantStats {
        name,
        km_at_window,
        mature: proportion(retention.mature, z),
        excl_censored: proportion(retention.excl_censored, z),
        naive_biased: proportion(retention.naive_biased, z),
        median_watch_s: seconds(median),
        median_watch_ci_s: [seconds(median_low), seconds(median_high)],
        km_curve,
        conversion: proportion(Proportion { retained: purchasers, n: viewers }, z),
        orders: records.iter().map(|r| r.orders as u64).sum(),
        gmv_total: compensated_sum(gmv.iter().copied()),
        gmv_per_viewer: GmvPerViewer { mean, variance, ci },
        retention,
    }
}
