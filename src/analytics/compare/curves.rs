//! §8.4 Whole curves: the log-rank test (lifelines `logrank_test`) and the
//! Cox PH hazard ratio with Efron ties (lifelines `CoxPHFitter`), fitted by
//! Newton–Raphson to |Δβ| < 1e-12.

use serde_json::{Value, json};

use super::TestResult;
use crate::analytics::special::{chi2_sf, norm_two_sided_p};

/// One distinct event time of the pooled sample: at risk and leaves by arm
/// (0 = control A, 1 = treatment B).
#[derive(Debug, Clone, Copy, PartialEq)]
struct RiskRow {
    at_risk: [f64; 2],
    events: [f64; 2],
}

/// The pooled risk table of two samples of (T, δ), over times with a leave.
fn risk_table(a: &[(i64, bool)], b: &[(i64, bool)]) -> Vec<RiskRow> {
    let mut pooled: Vec<(i64, usize, bool)> = a.iter().map(|&(t, e)| (t, 0, e)).collect();
    pooled.extend(b.iter().map(|&(t, e)| (t, 1, e)));
    pooled.sort_unstable_by_key(|p| p.0);
    let mut at_risk = [a.len() as f64, b.len() as f64];
    let mut rows = Vec::new();
    let mut index = 0;
    while index < pooled.len() {
        let t = pooled[index].0;
        let mut end = index;
        let mut events = [0.0; 2];
        let mut leaving = [0.0; 2];
        while end < pooled.len() && pooled[end].0 == t {
            let (_, arm, event) = pooled[end];
            events[arm] += event as u8 as f64;
            leaving[arm] += 1.0;
            end += 1;
        }
        if events[0] + events[1] > 0.0 {
            rows.push(RiskRow { at_risk, events });
        }
        at_risk[0] -= leaving[0];
        at_risk[1] -= leaving[1];
        index = end;
    }
    rows
}

/// §8.4 the log-rank test of B vs A: χ²₁ = (Σ O_B − E_B)² / Σ V with the
/// hypergeometric variance.
pub fn logrank(a: &[(i64, bool)], b: &[(i64, bool)]) -> TestResult {
    let mut observed_minus_expected = 0.0;
    let mut variance = 0.0;
    for row in risk_table(a, b) {
        let n = row.at_risk[0] + row.at_risk[1];
        let d = row.events[0] + row.events[1];
        observed_minus_expected += row.events[1] - d * row.at_risk[1] / n;
        if n > 1.0 {
            variance += row.at_risk[0] * row.at_risk[1] * d * (n - d) / (n * n * (n - 1.0));
        }
    }
    let statistic = observed_minus_expected * observed_minus_expected / variance;
    let mut result = TestResult::empty();
    result.p_value = statistic.is_finite().then(|| chi2_sf(statistic, 1.0));
    result.extra.push(("test_statistic", statistic.is_finite().then_some(statistic).into()));
    result
}

/// Efron log partial likelihood, score and information at β for one binary
/// covariate (1 = B).
fn efron(rows: &[RiskRow], beta: f64) -> (f64, f64, f64) {
    let risk = beta.exp();
    let (mut log_likelihood, mut score, mut information) = (0.0, 0.0, 0.0);
    for row in rows {
        let s0_risk = row.at_risk[0] + row.at_risk[1] * risk;
        let s1_risk = row.at_risk[1] * risk;
        let s0_dead = row.events[0] + row.events[1] * risk;
        let s1_dead = row.events[1] * risk;
        let d = row.events[0] + row.events[1];
        log_likelihood += row.events[1] * beta;
        score += row.events[1];
        let tied = d as u64;
        for l in 0..tied {
            let fraction = l as f64 / d;
            let phi = s0_risk - fraction * s0_dead;
            let first = (s1_risk - fraction * s1_dead) / phi;
            log_likelihood -= phi.ln();
            score -= first;
            // x² = x for a binary covariate, so S2 = S1
            information += first - first * first;
        }
    }
    (log_likelihood, score, information)
}

/// §8.4 the Cox PH hazard ratio B/A (Efron ties), 95 % CI and Wald p.
/// `diff` is β = log HR, `rel_lift` is HR − 1.
pub fn cox(a: &[(i64, bool)], b: &[(i64, bool)], z: f64) -> TestResult {
    let rows = risk_table(a, b);
    let mut result = TestResult::empty();
    result.extra.push(("hr", Value::Null));
    result.extra.push(("hr_ci", Value::Null));
    let events: [f64; 2] = rows.iter().fold([0.0, 0.0], |acc, r| [acc[0] + r.events[0], acc[1] + r.events[1]]);
    // with every leave in one arm the maximum is at β = ±∞
    if events[0] == 0.0 || events[1] == 0.0 {
        return result;
    }
    let mut beta = 0.0f64;
    let (mut log_likelihood, mut score, mut information) = efron(&rows, beta);
    let mut converged = false;
    for _ in 0..100 {
        if information <= 0.0 || !information.is_finite() {
            break;
        }
        let mut step = score / information;
        // step halving keeps the likelihood from going down
        let mut candidate = efron(&rows, beta + step);
        let mut halvings = 0;
        while candidate.0 < log_likelihood - 1e-12 * log_likelihood.abs() && halvings < 50 {
            step *= 0.5;
            candidate = efron(&rows, beta + step);
            halvings += 1;
        }
        beta += step;
        (log_likelihood, score, information) = candidate;
        if step.abs() < 1e-12 {
            converged = true;
            break;
        }
    }
    if !converged || information <= 0.0 {
        return result;
    }
    let se = 1.0 / information.sqrt();
    let ci = [beta - z * se, beta + z * se];
    result.diff = Some(beta);
    result.diff_ci = Some(ci);
    result.p_value = Some(norm_two_sided_p(beta / se));
    result.rel_lift = Some(beta.exp() - 1.0);
    result.rel_lift_ci = Some([ci[0].exp() - 1.0, ci[1].exp() - 1.0]);
    result.extra = vec![("hr", json!(beta.exp())), ("hr_ci", json!([ci[0].exp(), ci[1].exp()]))];
    result
}

/// §8.4 administrative censoring at W: T' = min(T, W), δ' = δ·1{T < W}.
pub fn censor_at(data: &[(i64, bool)], window_ms: i64) -> Vec<(i64, bool)> {
    data.iter().map(|&(t, e)| (t.min(window_ms), e && t < window_ms)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrank_matches_lifelines_on_a_small_tied_sample() {
        // lifelines.statistics.logrank_test([1,2,2,3,5],[2,3,4,4,6], event_observed_A=[1,1,0,1,1],
        // event_observed_B=[1,0,1,1,0]) -> test_statistic 1.1626373626373623, p 0.28091924544300284
        let a = [(1, true), (2, true), (2, false), (3, true), (5, true)];
        let b = [(2, true), (3, false), (4, true), (4, true), (6, false)];
        let result = logrank(&a, &b);
        let p = result.p_value.unwrap_or(f64::NAN);
        assert!((p - 0.280_919_245_443_002_84).abs() < 1e-14, "{p}");
    }

    #[test]
    fn cox_with_efron_ties_matches_lifelines() {
        // lifelines CoxPHFitter(ties efron) on the sample above, x = 1 for the second arm:
        // coef -0.7188544951512387, se 0.777610091403468, p 0.35525686038915283 (its optimizer
        // stops about 5e-8 short); statsmodels PHReg(ties="efron", gtol=1e-14): coef
        // -0.7188545430881261, se 0.7776100939342844
        let a = [(1, true), (2, true), (2, false), (3, true), (5, true)];
        let b = [(2, true), (3, false), (4, true), (4, true), (6, false)];
        let result = cox(&a, &b, 1.959_963_984_540_054);
        let beta = result.diff.unwrap_or(f64::NAN);
        assert!((beta - -0.718_854_543_088_126_1).abs() < 1e-13, "{beta}");
        assert!((beta - -0.718_854_495_151_238_7).abs() < 1e-6, "{beta}");
        let p = result.p_value.unwrap_or(f64::NAN);
        assert!((p - 0.355_256_860_389_152_83).abs() < 1e-6, "{p}");
        let se = (result.diff_ci.unwrap_or([0.0; 2])[1] - beta) / 1.959_963_984_540_054;
        assert!((se - 0.777_610_093_934_284_4).abs() < 1e-12, "{se}");
    }
}
