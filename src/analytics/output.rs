//! §9 Output: the JSON with exactly the keys §9 names (plus, inside
//! `diagnostics{…}`, the counters and parameters), and the `--curve-json`
//! step functions. Undefined numbers (0/0, a median never reached) are null.

use serde_json::{Map, Value, json};

use super::compare::srm::SrmTest;
use super::per_variant::{Estimate, ProportionEstimate, VariantStats};
use super::{Analysis, FamilyRow};

fn by_variant<T: Into<Value> + Clone>(names: &[String], values: &[T]) -> Value {
    let mut object = Map::new();
    for (name, value) in names.iter().zip(values) {
        object.insert(name.clone(), value.clone().into());
    }
    Value::Object(object)
}

fn srm_json(test: &SrmTest, names: &[String]) -> Value {
    json!({
        "observed": by_variant(names, &test.observed),
        "expected": by_variant(names, &test.expected),
        "chi2": test.chi2,
        "df": test.df,
        "p_value": test.p_value,
        "flag": test.flag,
    })
}

fn proportion_json(estimate: &ProportionEstimate) -> Value {
    json!({
        "retained": estimate.counts.retained,
        "n": estimate.counts.n,
        "value": estimate.estimate.value,
        "ci_wilson": estimate.estimate.ci,
    })
}

fn variant_json(stats: &VariantStats) -> Value {
    let retention = &stats.retention;
    let km = &stats.km_at_window;
    let Estimate { value: conversion, ci: conversion_ci } = stats.conversion.estimate;
    json!({
        "viewers": retention.viewers,
        "first_visit_events": retention.first_visit_events,
        "first_visit_censored": retention.first_visit_censored,
        "censored_before_window": retention.censored_before_window,
        "viewers_with_2plus_visits": retention.viewers_with_2plus_visits,
        "retention": {
            "km": {
                "value": km.value,
                "se_greenwood": km.variance.sqrt(),
                "ci_loglog": km.ci_loglog,
                "ci_linear": km.ci_linear,
            },
            "mature": proportion_json(&stats.mature),
            "excl_censored": proportion_json(&stats.excl_censored),
            "naive_biased": proportion_json(&stats.naive_biased),
        },
        "median_watch_s": {"value": stats.median_watch_s, "ci": stats.median_watch_ci_s},
        "km_curve": stats.km_curve.iter().map(|p| json!({
            "t_s": p.t_s, "S": p.survival, "ci": p.ci, "at_risk": p.at_risk,
        })).collect::<Vec<_>>(),
        "conversion": {
            "purchasers": stats.conversion.counts.retained,
            "value": conversion,
            "ci_wilson": conversion_ci,
        },
        "orders": stats.orders,
        "gmv_total": stats.gmv_total,
        "gmv_per_viewer": {
            "value": stats.gmv_per_viewer.mean,
            "sd": stats.gmv_per_viewer.variance.map(f64::sqrt),
            "ci": stats.gmv_per_viewer.ci,
        },
    })
}

fn family_json(row: &FamilyRow) -> Value {
    json!({"variant": row.variant, "metric": row.metric, "p": row.p, "p_holm": row.p_holm, "p_bh": row.p_bh})
}

/// §9 the whole analysis.
pub fn to_json(analysis: &Analysis) -> Value {
    let names: Vec<String> = analysis.variants.iter().map(|v| v.name.clone()).collect();
    let mut srm = srm_json(&analysis.srm, &names);
    if let Some(informational) = &analysis.viewer_counts_informational {
        srm["viewer_counts_informational"] = srm_json(informational, &names);
    }
    let design = &analysis.design;
    let mut design_json = json!({
        "randomization_unit": if design.session_randomised { "session" } else { "viewer" },
        "sessions_per_variant": by_variant(&names, &design.sessions_per_variant),
    });
    if design.session_randomised {
        let mut robust = Map::new();
        for (key, [mature, conversion, gmv]) in &design.cluster_robust {
            let test = |t: &Option<super::TestResult>| t.as_ref().map_or(Value::Null, |t| t.to_json());
            robust.insert(
                key.clone(),
                json!({"mature": test(mature), "conversion": test(conversion), "gmv_per_viewer": test(gmv)}),
            );
        }
        design_json["cluster_robust"] = Value::Object(robust);
        design_json["warning"] = json!(design.warning);
    }
    let mut variants = Map::new();
    for stats in &analysis.variants {
        variants.insert(stats.name.clone(), variant_json(stats));
    }
    let mut comparisons = Map::new();
    for c in &analysis.comparisons {
        comparisons.insert(
            c.key(),
            json!({
                "retention": {
                    "mature_ztest": c.mature_ztest.to_json(),
                    "excl_censored_ztest": c.excl_censored_ztest.to_json(),
                    "km": c.km.to_json(),
                    "logrank_full": c.logrank_full.to_json(),
                    "logrank_0_to_window": c.logrank_0_to_window.to_json(),
                    "cox_hr_0_to_window": c.cox_hr_0_to_window.to_json(),
                },
                "conversion": c.conversion.to_json(),
                "gmv_per_viewer": c.gmv_per_viewer.to_json(),
                "median_watch_s_diff": c.median_watch_s_diff,
            }),
        );
    }
    // unwrap: the counters are plain integers
    let mut diagnostics = serde_json::to_value(&analysis.diagnostics).unwrap();
    let params = &analysis.params;
    diagnostics["window_ms"] = json!(params.window_ms);
    diagnostics["grace_ms"] = json!(params.grace_ms);
    diagnostics["alpha"] = json!(params.alpha);
    diagnostics["control"] = json!(analysis.control);
    diagnostics["seq_tuning"] = json!(params.seq_tuning);
    diagnostics["weights"] = json!(params.weights);
    json!({
        "srm": srm,
        "design": design_json,
        "variants": variants,
        "comparisons": comparisons,
        "multiple_comparisons": analysis.multiple_comparisons.iter().map(family_json).collect::<Vec<_>>(),
        "diagnostics": diagnostics,
    })
}

/// `--curve-json`: each variant's full KM step function (event times, n_j,
/// d_j, Ŝ after each step, Greenwood's sum).
pub fn curves_json(analysis: &Analysis) -> Value {
    let mut object = Map::new();
    for stats in &analysis.variants {
        let steps: Vec<Value> = stats
            .retention
            .km
            .steps
            .iter()
            .map(|s| json!({"t_s": s.t_ms as f64 / 1000.0, "n": s.at_risk, "d": s.events, "S": s.survival, "greenwood_sum": s.greenwood_sum}))
            .collect();
        object.insert(stats.name.clone(), json!({"viewers": stats.retention.viewers, "steps": steps}));
    }
    Value::Object(object)
}
