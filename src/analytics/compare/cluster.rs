//! §8.8 Session-randomised design: ratio metrics over streams (clusters)
//! with GrowthBook's delta-method variance (`details.mdx` eq. 12).

use super::TestResult;
use super::two_sample::Settings;
use crate::analytics::special::{t_ppf, t_two_sided_p};

/// One stream's numerator M_s and denominator D_s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cluster {
    pub numerator: f64,
    pub denominator: f64,
}

/// R = ΣM/ΣD and Var(R) = (σ²_M − 2Rσ_MD + R²σ²_D)/(μ_D² k), sample
/// (co)variances with ddof 1 across the k streams.
pub fn ratio(clusters: &[Cluster]) -> (f64, f64) {
    let k = clusters.len() as f64;
    let mean_m = clusters.iter().map(|c| c.numerator).sum::<f64>() / k;
    let mean_d = clusters.iter().map(|c| c.denominator).sum::<f64>() / k;
    let r = mean_m / mean_d;
    let (mut var_m, mut var_d, mut cov) = (0.0, 0.0, 0.0);
    for c in clusters {
        var_m += (c.numerator - mean_m) * (c.numerator - mean_m);
        var_d += (c.denominator - mean_d) * (c.denominator - mean_d);
        cov += (c.numerator - mean_m) * (c.denominator - mean_d);
    }
    let (var_m, var_d, cov) = (var_m / (k - 1.0), var_d / (k - 1.0), cov / (k - 1.0));
    (r, (var_m - 2.0 * r * cov + r * r * var_d) / (mean_d * mean_d * k))
}

/// B vs A on cluster ratios: diff tested with t(k_A + k_B − 2). `None` with
/// fewer than 2 streams in an arm: nothing is estimable.
pub fn compare_ratios(a: &[Cluster], b: &[Cluster], settings: &Settings) -> Option<TestResult> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (r_a, var_a) = ratio(a);
    let (r_b, var_b) = ratio(b);
    let dof = (a.len() + b.len() - 2) as f64;
    let diff = r_b - r_a;
    let se = (var_a + var_b).sqrt();
    let quantile = t_ppf(1.0 - settings.alpha / 2.0, dof);
    let lift = diff / r_a;
    let lift_se = (var_b / (r_a * r_a) + r_b * r_b * var_a / r_a.powi(4)).sqrt();
    let finite = |x: f64| x.is_finite().then_some(x);
    let interval = |c: f64, h: f64| (c.is_finite() && h.is_finite()).then_some([c - h, c + h]);
    Some(TestResult {
        diff: finite(diff),
        diff_ci: interval(diff, quantile * se),
        p_value: finite(t_two_sided_p(diff / se, dof)),
        rel_lift: finite(lift),
        rel_lift_ci: interval(lift, quantile * lift_se),
        ..TestResult::empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_cluster_ratios_have_the_textbook_delta_variance() {
        // M = (2, 4, 6), D = (10, 20, 30): R = 0.2 exactly and every cluster
        // sits on the ratio line, so Var(R) = 0
        let clusters = [(2.0, 10.0), (4.0, 20.0), (6.0, 30.0)].map(|(m, d)| Cluster { numerator: m, denominator: d });
        let (r, variance) = ratio(&clusters);
        assert!((r - 0.2).abs() < 1e-15 && variance.abs() < 1e-15);
        // M = (1, 3), D = (10, 10): R = 0.2, σ²_M = 2, σ_MD = 0, σ²_D = 0: Var = 2 / (100 · 2)
        let clusters = [(1.0, 10.0), (3.0, 10.0)].map(|(m, d)| Cluster { numerator: m, denominator: d });
        let (r, variance) = ratio(&clusters);
        assert!((r - 0.2).abs() < 1e-15 && (variance - 0.01).abs() < 1e-15);
    }
}
