//! Simulations with a known truth: a real effect is found where it is and
//! estimated within a few standard errors, and an A/A test over many seeds
//! neither flags SRM beyond its rate nor skews its p-values.

use super::simulate::{SimConfig, parsed_log};
use super::{Analysis, Params, analyze};

fn run(config: &SimConfig) -> Analysis {
    // unwrap: simulated logs always analyse
    analyze(parsed_log(config), &Params::default()).unwrap()
}

#[test]
fn an_exponential_effect_of_known_hazard_ratio_is_estimated_within_a_few_se_and_detected() {
    // exponential watch times, means 100 s (A) and 150 s (B): S(120 s) = e^−1.2 and e^−0.8,
    // hazard ratio B/A = 100/150. No re-joins (a merged visit is no longer exponential); the
    // stream ends censor late joiners independently of how long they would stay.
    let mut config = SimConfig::two_arms(2024, 20_000, 100_000.0, 150_000.0);
    config.rejoin_probability = 0.0;
    let analysis = run(&config);
    for (variant, mean_s) in [("A", 100.0f64), ("B", 150.0)] {
        let stats = analysis.variants.iter().find(|v| v.name == variant).expect("both arms");
        let truth = (-120.0 / mean_s).exp();
        let km = &stats.km_at_window;
        let se = km.variance.sqrt();
        assert!((km.value - truth).abs() < 4.0 * se, "{variant}: KM {} vs S(W) {truth} (se {se})", km.value);
        let mature = stats.mature.estimate.value.unwrap_or(f64::NAN);
        let n = stats.mature.counts.n as f64;
        let se = (truth * (1.0 - truth) / n).sqrt();
        assert!((mature - truth).abs() < 4.0 * se, "{variant}: mature {mature} vs {truth} (se {se})");
        // the median of an exponential is mean·ln 2
        let median = stats.median_watch_s.unwrap_or(f64::NAN);
        assert!((median / (mean_s * 2f64.ln()) - 1.0).abs() < 0.08, "{variant}: median {median}");
    }
    let c = &analysis.comparisons[0];
    let (log_hr, [low, high]) =
        (c.cox_hr_0_to_window.diff.unwrap_or(0.0), c.cox_hr_0_to_window.diff_ci.unwrap_or([0.0; 2]));
    let se = (high - low) / (2.0 * 1.959_963_984_540_054);
    let truth = (100.0f64 / 150.0).ln();
    assert!((log_hr - truth).abs() < 4.0 * se, "log HR {log_hr} vs {truth} (se {se})");
    assert!(low < truth && truth < high, "the CI [{low}, {high}] covers log(2/3)");
    for (name, p) in [
        ("mature z-test", c.mature_ztest.p_value),
        ("KM at W", c.km.p_value),
        ("log-rank", c.logrank_full.p_value),
        ("log-rank 0..W", c.logrank_0_to_window.p_value),
        ("Cox", c.cox_hr_0_to_window.p_value),
    ] {
        assert!(p.unwrap_or(1.0) < 1e-6, "{name} misses the effect: p {p:?}");
    }
    assert!(!analysis.srm.flag);
}

/// The Kolmogorov–Smirnov distance of `p_values` from the uniform distribution.
fn ks_uniform(mut p_values: Vec<f64>) -> f64 {
    p_values.sort_by(f64::total_cmp);
    let n = p_values.len() as f64;
    p_values
        .iter()
        .enumerate()
        .fold(0.0f64, |d, (i, &p)| d.max((p - i as f64 / n).abs()).max(((i + 1) as f64 / n - p).abs()))
}

#[test]
fn an_aa_test_over_many_seeds_flags_srm_at_its_rate_and_gives_uniform_p_values() {
    let seeds = 200;
    let mut srm_flags = 0;
    let mut retention_p = Vec::new();
    let mut logrank_p = Vec::new();
    let mut gmv_p = Vec::new();
    let mut srm_p = Vec::new();
    for seed in 0..seeds {
        let mut config = SimConfig::two_arms(10_000 + seed, 600, 110_000.0, 110_000.0);
        config.arms[1].purchase_probability = config.arms[0].purchase_probability;
        let analysis = run(&config);
        srm_flags += analysis.srm.flag as u32;
        srm_p.push(analysis.srm.p_value);
        let c = &analysis.comparisons[0];
        retention_p.extend(c.mature_ztest.p_value);
        logrank_p.extend(c.logrank_full.p_value);
        gmv_p.extend(c.gmv_per_viewer.p_value);
    }
    // SRM's threshold is 0.001: 0.2 flags expected in 200 runs
    assert!(srm_flags <= 2, "SRM flagged {srm_flags} of {seeds} A/A runs");
    // KS at n = 200: the 0.1 % critical value is 1.95/√200 = 0.138
    for (name, p) in [("srm", srm_p), ("mature z-test", retention_p), ("log-rank", logrank_p), ("gmv welch", gmv_p)] {
        assert!(p.len() as u64 >= seeds - 2, "{name}: {} p-values", p.len());
        let small = p.iter().filter(|&&p| p < 0.05).count();
        let d = ks_uniform(p);
        assert!(d < 0.138, "{name}: KS distance {d:.3} from uniform");
        // and about 5 % of them below 0.05 (binomial sd √(200·0.05·0.95) ≈ 3.1)
        assert!(small <= 22, "{name}: {small} of {seeds} below 0.05");
    }
}
