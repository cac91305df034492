//! §8.2 proportions, §8.3 KM at W, §8.5 GMV per viewer (Welch), and the
//! §8.7 confidence sequences of the §8.2 and §8.5 differences.

use super::TestResult;
use crate::analytics::per_variant::KmAtWindow;
use crate::analytics::special::{chi2_sf, norm_cdf, norm_two_sided_p, t_ppf, t_two_sided_p};
use crate::analytics::survival::Proportion;

/// Settings shared by every comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub alpha: f64,
    /// Φ⁻¹(1 − α/2).
    pub z: f64,
    /// §8.7 N*.
    pub seq_tuning: f64,
}

fn interval(center: f64, half: f64) -> Option<[f64; 2]> {
    (center.is_finite() && half.is_finite()).then_some([center - half, center + half])
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// §8.7 GrowthBook's asymptotic confidence sequence (Waudby-Smith et al.
/// 2023) around `diff` with fixed-horizon `se` after `n` units: the
/// half-width and the sequential p-value.
pub fn confidence_sequence(diff: f64, se: f64, n: f64, settings: &Settings) -> (Option<[f64; 2]>, Option<f64>) {
    if !(se > 0.0 && se.is_finite()) {
        return (None, None);
    }
    let alpha = settings.alpha;
    let rho_sq = (-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / settings.seq_tuning;
    let n_rho_sq_1 = n * rho_sq + 1.0;
    let half = se * n.sqrt() * (2.0 * n_rho_sq_1 / (n * n * rho_sq) * (n_rho_sq_1.sqrt() / alpha).ln()).sqrt();
    // e = exp(ρ²·(n·diff²/se²) / (2(nρ²+1))) / √(nρ²+1); p = min(1, 1/e)
    let log_e = rho_sq * (n * diff * diff / (se * se)) / (2.0 * n_rho_sq_1) - 0.5 * n_rho_sq_1.ln();
    let p = (-log_e).exp().min(1.0);
    (interval(diff, half), finite(p))
}

/// §8.2 for one proportion: B vs A.
pub fn proportions(a: Proportion, b: Proportion, settings: &Settings) -> TestResult {
    let (Some(p_a), Some(p_b)) = (a.value(), b.value()) else { return TestResult::empty() };
    let (n_a, n_b) = (a.n as f64, b.n as f64);
    let diff = p_b - p_a;
    let se = (p_a * (1.0 - p_a) / n_a + p_b * (1.0 - p_b) / n_b).sqrt();
    let pooled = (a.retained + b.retained) as f64 / (n_a + n_b);
    let z = diff / (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    // relative lift by the delta method (GrowthBook eq. 2, σ² = p(1−p))
    let lift = diff / p_a;
    let lift_se = (p_a * (1.0 - p_a) * p_b * p_b / (p_a.powi(4) * n_a) + p_b * (1.0 - p_b) / (p_a * p_a * n_b)).sqrt();
    let (seq_ci, seq_p) = confidence_sequence(diff, se, n_a + n_b, settings);
    let mut result = TestResult {
        diff: finite(diff),
        diff_ci: interval(diff, settings.z * se),
        p_value: finite(norm_two_sided_p(z)),
        rel_lift: finite(lift),
        rel_lift_ci: interval(lift, settings.z * lift_se),
        seq_diff_ci: Some(seq_ci),
        seq_p_value: Some(seq_p),
        chance_to_win: Some((lift_se > 0.0).then(|| norm_cdf(lift / lift_se)).and_then(finite)),
        extra: Vec::new(),
    };
    result.extra.push(("chi2_p_value", finite(pearson_2x2_p(a, b)).into()));
    result
}

/// The 2×2 Pearson χ² without Yates' correction (scipy
/// `chi2_contingency(correction=False)`): the cross-check of the z-test.
pub fn pearson_2x2_p(a: Proportion, b: Proportion) -> f64 {
    let table = [[a.retained as f64, (a.n - a.retained) as f64], [b.retained as f64, (b.n - b.retained) as f64]];
    let total = (a.n + b.n) as f64;
    let rows = [a.n as f64, b.n as f64];
    let columns = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
    let mut statistic = 0.0;
    for (i, row) in rows.iter().enumerate() {
        for (j, column) in columns.iter().enumerate() {
            let expected = row * column / total;
            statistic += (table[i][j] - expected) * (table[i][j] - expected) / expected;
        }
    }
    chi2_sf(statistic, 1.0)
}

/// §8.3 KM Ŝ(W⁻): B vs A, with the Klein et al. (2007) log(−log) test.
pub fn km_at_window(a: &KmAtWindow, b: &KmAtWindow, settings: &Settings) -> TestResult {
    let diff = b.value - a.value;
    let se = (a.variance + b.variance).sqrt();
    let lift = diff / a.value;
    let lift_se = (b.variance / (a.value * a.value) + b.value * b.value * a.variance / a.value.powi(4)).sqrt();
    // X = (log(−log Ŝ_A) − log(−log Ŝ_B))² / (Σ_A/log²Ŝ_A + Σ_B/log²Ŝ_B) ~ χ²₁,
    // Σ the Greenwood sums at W⁻ (step function, not interpolated)
    let (log_a, log_b) = (a.value.ln(), b.value.ln());
    let statistic = ((-log_a).ln() - (-log_b).ln()).powi(2)
        / (a.greenwood_sum / (log_a * log_a) + b.greenwood_sum / (log_b * log_b));
    let mut result = TestResult {
        diff: finite(diff),
        diff_ci: interval(diff, settings.z * se),
        p_value: finite(norm_two_sided_p(diff / se)),
        rel_lift: finite(lift),
        rel_lift_ci: interval(lift, settings.z * lift_se),
        ..TestResult::empty()
    };
    result.extra.push(("loglog_p_value", finite(chi2_sf(statistic, 1.0)).into()));
    result
}

/// Mean, variance (ddof 1) and size of one arm's per-viewer values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub mean: f64,
    pub variance: f64,
    pub n: f64,
}

/// §8.5 Welch's t-test of the means (scipy `ttest_ind(equal_var=False)`),
/// its t(dof) interval and delta-method relative lift (GrowthBook `TwoSidedTTest`).
pub fn welch(a: Moments, b: Moments, settings: &Settings) -> TestResult {
    let (va, vb) = (a.variance / a.n, b.variance / b.n);
    let diff = b.mean - a.mean;
    let se = (va + vb).sqrt();
    let dof = (va + vb) * (va + vb) / (va * va / (a.n - 1.0) + vb * vb / (b.n - 1.0));
    let quantile = t_ppf(1.0 - settings.alpha / 2.0, dof);
    let lift = diff / a.mean;
    let lift_se = (a.variance * b.mean * b.mean / (a.mean.powi(4) * a.n) + b.variance / (a.mean * a.mean * b.n)).sqrt();
    let (seq_ci, seq_p) = confidence_sequence(diff, se, a.n + b.n, settings);
    TestResult {
        diff: finite(diff),
        diff_ci: interval(diff, quantile * se),
        p_value: finite(t_two_sided_p(diff / se, dof)),
        rel_lift: finite(lift),
        rel_lift_ci: interval(lift, quantile * lift_se),
        seq_diff_ci: Some(seq_ci),
        seq_p_value: Some(seq_p),
        ..TestResult::empty()
    }
}
