//! §9: the JSON carries exactly the keys §9 names, at every level (plus the
//! test-specific keys §8 names: `chi2_p_value`, `loglog_p_value`, and the
//! Cox `hr`/`hr_ci` and log-rank `test_statistic`; `diagnostics{…}` is open
//! and holds §1-§6's counters and the parameters).

use std::collections::BTreeSet;

use serde_json::Value;

use super::simulate::{SimConfig, parsed_log};
use super::{Params, analyze, output};

/// Every key path; levels keyed by variant or comparison become `<v>`,
/// array elements `[]`.
fn key_paths(value: &Value, path: &str, keyed_by_variant: bool, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let segment = if keyed_by_variant { "<v>" } else { key.as_str() };
                let child_path = if path.is_empty() { segment.to_string() } else { format!("{path}.{segment}") };
                out.insert(child_path.clone());
                let by_variant = !keyed_by_variant
                    && matches!(
                        child_path.as_str(),
                        "variants"
                            | "comparisons"
                            | "srm.observed"
                            | "srm.expected"
                            | "srm.viewer_counts_informational.observed"
                            | "srm.viewer_counts_informational.expected"
                            | "design.sessions_per_variant"
                            | "design.cluster_robust"
                    );
                key_paths(child, &child_path, by_variant, out);
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                key_paths(item, &format!("{path}[]"), false, out);
            }
        }
        _ => {}
    }
}

const TEST_KEYS: [&str; 5] = ["diff", "diff_ci", "p_value", "rel_lift", "rel_lift_ci"];
const SEQUENTIAL_KEYS: [&str; 2] = ["seq_diff_ci", "seq_p_value"];

fn expected_paths(session_design: bool) -> BTreeSet<String> {
    let mut paths: Vec<String> = Vec::new();
    let mut add = |prefix: &str, keys: &[&str]| {
        for key in keys {
            paths.push(if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") });
        }
    };
    add("", &["srm", "design", "variants", "comparisons", "multiple_comparisons", "diagnostics"]);
    let srm_keys = ["observed", "expected", "chi2", "df", "p_value", "flag"];
    add("srm", &srm_keys);
    add("srm.observed", &["<v>"]);
    add("srm.expected", &["<v>"]);
    add("design", &["randomization_unit", "sessions_per_variant"]);
    add("design.sessions_per_variant", &["<v>"]);
    if session_design {
        add("srm", &["viewer_counts_informational"]);
        add("srm.viewer_counts_informational", &srm_keys);
        add("srm.viewer_counts_informational.observed", &["<v>"]);
        add("srm.viewer_counts_informational.expected", &["<v>"]);
        add("design", &["cluster_robust", "warning"]);
        add("design.cluster_robust", &["<v>"]);
        add("design.cluster_robust.<v>", &["mature", "conversion", "gmv_per_viewer"]);
        for metric in ["mature", "conversion", "gmv_per_viewer"] {
            add(&format!("design.cluster_robust.<v>.{metric}"), &TEST_KEYS);
        }
    }
    add("variants", &["<v>"]);
    let v = "variants.<v>";
    add(
        v,
        &[
            "viewers",
            "first_visit_events",
            "first_visit_censored",
            "censored_before_window",
            "viewers_with_2plus_visits",
            "retention",
            "median_watch_s",
            "km_curve",
            "conversion",
            "orders",
            "gmv_total",
            "gmv_per_viewer",
        ],
    );
    add(&format!("{v}.retention"), &["km", "mature", "excl_censored", "naive_biased"]);
    add(&format!("{v}.retention.km"), &["value", "se_greenwood", "ci_loglog", "ci_linear"]);
    for proportion in ["mature", "excl_censored", "naive_biased"] {
        add(&format!("{v}.retention.{proportion}"), &["retained", "n", "value", "ci_wilson"]);
    }
    add(&format!("{v}.median_watch_s"), &["value", "ci"]);
    add(&format!("{v}.km_curve[]"), &["t_s", "S", "ci", "at_risk"]);
    add(&format!("{v}.conversion"), &["purchasers", "value", "ci_wilson"]);
    add(&format!("{v}.gmv_per_viewer"), &["value", "sd", "ci"]);
    add("comparisons", &["<v>"]);
    let c = "comparisons.<v>";
    add(c, &["retention", "conversion", "gmv_per_viewer", "median_watch_s_diff"]);
    add(
        &format!("{c}.retention"),
        &["mature_ztest", "excl_censored_ztest", "km", "logrank_full", "logrank_0_to_window", "cox_hr_0_to_window"],
    );
    for test in ["retention.mature_ztest", "retention.excl_censored_ztest", "conversion"] {
        add(&format!("{c}.{test}"), &TEST_KEYS);
        add(&format!("{c}.{test}"), &SEQUENTIAL_KEYS);
        add(&format!("{c}.{test}"), &["chance_to_win", "chi2_p_value"]);
    }
    add(&format!("{c}.gmv_per_viewer"), &TEST_KEYS);
    add(&format!("{c}.gmv_per_viewer"), &SEQUENTIAL_KEYS);
    add(&format!("{c}.retention.km"), &TEST_KEYS);
    add(&format!("{c}.retention.km"), &["loglog_p_value"]);
    for test in ["logrank_full", "logrank_0_to_window"] {
        add(&format!("{c}.retention.{test}"), &TEST_KEYS);
        add(&format!("{c}.retention.{test}"), &["test_statistic"]);
    }
    add(&format!("{c}.retention.cox_hr_0_to_window"), &TEST_KEYS);
    add(&format!("{c}.retention.cox_hr_0_to_window"), &["hr", "hr_ci"]);
    add("multiple_comparisons[]", &["variant", "metric", "p", "p_holm", "p_bh"]);
    add(
        "diagnostics",
        &[
            // §1-§6's counters
            "rejected_malformed_lines",
            "ignored_unknown_kind",
            "ignored_at_or_after_horizon",
            "ignored_duplicate_join",
            "ignored_orphan_leave",
            "ignored_purchase_unexposed_viewer",
            "multiple_exposure_viewers",
            "purchase_amount_invalid",
            "lines",
            "events_accepted",
            "streams",
            "live_streams",
            // the parameters
            "as_of_ms",
            "window_ms",
            "grace_ms",
            "alpha",
            "control",
            "seq_tuning",
            "weights",
        ],
    );
    paths.into_iter().collect()
}

fn json_for(config: &SimConfig) -> Value {
    // unwrap: simulated logs are analysable
    output::to_json(&analyze(parsed_log(config), &Params::default()).unwrap())
}

#[test]
fn the_json_of_a_viewer_randomised_three_arm_test_has_exactly_the_keys_of_section_9() {
    let mut config = SimConfig::two_arms(3, 3000, 90_000.0, 110_000.0);
    let mut third = config.arms[1].clone();
    third.name = "C".into();
    config.arms.push(third);
    let json = json_for(&config);
    let mut paths = BTreeSet::new();
    key_paths(&json, "", false, &mut paths);
    let expected = expected_paths(false);
    assert_eq!(paths.difference(&expected).collect::<Vec<_>>(), Vec::<&String>::new(), "keys §9 does not name");
    assert_eq!(expected.difference(&paths).collect::<Vec<_>>(), Vec::<&String>::new(), "keys §9 names, missing");
    assert_eq!(
        json["comparisons"].as_object().map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["B_vs_A".into(), "C_vs_A".into()])
    );
    assert_eq!(json["multiple_comparisons"].as_array().map(Vec::len), Some(6));
}

#[test]
fn the_json_of_a_session_randomised_test_adds_the_cluster_robust_comparison_and_warning() {
    let mut config = SimConfig::two_arms(4, 3000, 90_000.0, 110_000.0);
    config.session_randomised = true;
    let json = json_for(&config);
    let mut paths = BTreeSet::new();
    key_paths(&json, "", false, &mut paths);
    let expected = expected_paths(true);
    assert_eq!(paths.difference(&expected).collect::<Vec<_>>(), Vec::<&String>::new(), "keys §9 does not name");
    assert_eq!(expected.difference(&paths).collect::<Vec<_>>(), Vec::<&String>::new(), "keys §9 names, missing");
    assert_eq!(json["design"]["randomization_unit"], "session");
    assert_eq!(json["srm"]["observed"]["A"], 2, "4 streams, alternating arms: SRM counts streams");
}
