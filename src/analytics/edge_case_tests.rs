//! §10 edge cases: one hand-written log each, with the expectations derived
//! by hand (in the comments) from ANALYTICS.md, W = 120 s and G = 10 s.

use super::input::ParsedLog;
use super::per_variant::VariantStats;
use super::{Analysis, AnalysisError, Params, analyze};

fn log(lines: &[&str]) -> ParsedLog {
    let mut log = ParsedLog::default();
    for line in lines {
        log.add_line(line.as_bytes());
    }
    log
}

fn run(lines: &[&str]) -> Analysis {
    run_with(lines, &Params::default())
}

fn run_with(lines: &[&str], params: &Params) -> Analysis {
    // unwrap: every test log here is analysable
    analyze(log(lines), params).unwrap()
}

fn variant<'a>(analysis: &'a Analysis, name: &str) -> &'a VariantStats {
    // unwrap: the tests name variants of their own logs
    analysis.variants.iter().find(|v| v.name == name).unwrap()
}

/// (viewers, first_visit_events, first_visit_censored, censored_before_window, 2plus visits)
fn counts(v: &VariantStats) -> (u64, u64, u64, u64, u64) {
    let r = &v.retention;
    (r.viewers, r.first_visit_events, r.first_visit_censored, r.censored_before_window, r.viewers_with_2plus_visits)
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance * expected.abs().max(1e-300)
}

#[test]
fn rejoins_within_the_grace_merge_into_one_visit_even_at_exactly_g_and_the_gap_counts_as_watch_time() {
    let analysis = run(&[
        // v1: 0..50s, back after exactly 10 s, 60..100 s, back after 5 s, 105..200 s: one visit 0..200 s
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 50000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 60000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 100000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 105000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 200000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        // v2: 0..30 s, back after 10.001 s: a new visit; the first one (T = 30 s) counts
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 30000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 40001, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 500000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        // v3: 1..110 s, back after exactly 10 s, ..130 s: T = 129 s, retained only thanks to the merge
        r#"{"ts": 1000, "session_id": "s1", "viewer_id": "v3", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 110000, "session_id": "s1", "viewer_id": "v3", "kind": "leave"}"#,
        r#"{"ts": 120000, "session_id": "s1", "viewer_id": "v3", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 130000, "session_id": "s1", "viewer_id": "v3", "kind": "leave"}"#,
        // v4: 0..119.999 s, back after exactly G, still there at the end: censored, T = 1000 s
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v4", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 119999, "session_id": "s1", "viewer_id": "v4", "kind": "leave"}"#,
        r#"{"ts": 129999, "session_id": "s1", "viewer_id": "v4", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 1000000, "session_id": "s1", "kind": "stream_end"}"#,
    ]);
    let a = variant(&analysis, "A");
    // A: v1 T = 200 s (left), v2 T = 30 s (left, 2 visits)
    assert_eq!(counts(a), (2, 2, 0, 0, 1));
    assert_eq!((a.mature.counts.retained, a.mature.counts.n), (1, 2));
    // KM: one leave at 30 s among 2 at risk: Ŝ(W⁻) = 1/2, Σ = 1/(2·1), V = 1/4 · 1/2
    assert_eq!(a.km_at_window.value, 0.5);
    assert_eq!(a.km_at_window.variance, 0.125);
    let b = variant(&analysis, "B");
    // B: v3 T = 129 s (left), v4 T = 1000 s (censored); nobody left before W
    assert_eq!(counts(b), (2, 1, 1, 0, 0));
    assert_eq!((b.mature.counts.retained, b.mature.counts.n), (2, 2));
    assert_eq!(b.km_at_window.value, 1.0);
    assert_eq!(b.km_at_window.ci_loglog, [1.0, 1.0], "lifelines fills the 0/0 band with 1");
    // the stream_end itself sits at its horizon
    assert_eq!(analysis.diagnostics.ignored_at_or_after_horizon, 1);
    assert_eq!(analysis.diagnostics.visits.ignored_duplicate_join, 0);
}

#[test]
fn a_leave_at_exactly_w_is_retained_and_sits_outside_the_km_product_at_w_minus() {
    let analysis = run(&[
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "a1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 120000, "session_id": "s1", "viewer_id": "a1", "kind": "leave"}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "a2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 119999, "session_id": "s1", "viewer_id": "a2", "kind": "leave"}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "b1", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 120000, "session_id": "s1", "viewer_id": "b1", "kind": "leave"}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "b2", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 60000, "session_id": "s1", "viewer_id": "b2", "kind": "leave"}"#,
        r#"{"ts": 900000, "session_id": "s1", "kind": "stream_end"}"#,
    ]);
    let a = variant(&analysis, "A");
    // a1 stayed exactly 120000 ms: retained; a2 is 1 ms short
    assert_eq!((a.mature.counts.retained, a.mature.counts.n), (1, 2));
    assert_eq!((a.excl_censored.counts.retained, a.excl_censored.counts.n), (1, 2));
    // Ŝ(W⁻) multiplies over t_j < W only: the leave at 119999 (1 of 2), not the one at 120000
    assert_eq!(a.km_at_window.value, 0.5);
    let point = a.km_curve.iter().find(|p| p.t_s == 120).map(|p| (p.survival, p.at_risk));
    assert_eq!(point, Some((0.5, 1)), "S(120 s⁻) = 1/2 with a1 still at risk at 120 s");
    // right-continuous Ŝ reaches 0.5 at 119.999 s: the median
    assert_eq!(a.median_watch_s, Some(119.999));
    // 0..W censoring: a1's leave at W becomes a censoring at W, so the 0..W log-rank sees
    // one leave per arm (a2 at 119.999 s with 1 at risk in A, b2 at 60 s with 2 at risk in B)
    let comparison = &analysis.comparisons[0];
    assert!(comparison.logrank_0_to_window.p_value.is_some());
    assert_eq!(comparison.km.diff, Some(0.0), "both arms: Ŝ(W⁻) = 1/2");
}

#[test]
fn viewers_present_at_the_end_are_censored_and_a_leave_stamped_at_stream_end_is_ignored() {
    let analysis = run(&[
        r#"{"ts": 10000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 250000, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 100000, "session_id": "s1", "viewer_id": "v3", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 300000, "session_id": "s1", "viewer_id": "v3", "kind": "leave"}"#,
        r#"{"ts": 200000, "session_id": "s1", "viewer_id": "v4", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 300000, "session_id": "s1", "viewer_id": "v4", "kind": "leave"}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v5", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 60000, "session_id": "s1", "viewer_id": "v5", "kind": "leave"}"#,
        r#"{"ts": 300000, "session_id": "s1", "kind": "stream_end"}"#,
        r#"{"ts": 400000, "session_id": "s1", "kind": "stream_end"}"#,
    ]);
    // H = 300 s. T, δ, C: v1 290 s, 0, 290 s; v2 50 s, 0, 50 s; v3 200 s, 0 (its leave at the
    // end is ignored), 200 s; v4 100 s, 0, 100 s; v5 60 s, 1, 300 s
    let a = variant(&analysis, "A");
    assert_eq!(counts(a), (5, 1, 4, 2, 0));
    // mature: C ≥ W for v1, v3, v5; retained among them v1, v3
    assert_eq!((a.mature.counts.retained, a.mature.counts.n), (2, 3));
    // excl_censored: #{T ≥ W} = 2 over 5 − 2 censored before W
    assert_eq!((a.excl_censored.counts.retained, a.excl_censored.counts.n), (2, 3));
    assert_eq!((a.naive_biased.counts.retained, a.naive_biased.counts.n), (2, 5));
    // KM: v5 leaves at 60 s with n = #{T ≥ 60 s} = 4 (v2's 50 s is out): Ŝ = 3/4, Σ = 1/(4·3)
    assert_eq!(a.km_at_window.value, 0.75);
    assert!(close(a.km_at_window.greenwood_sum, 1.0 / 12.0, 1e-15));
    // the two leaves at 300 s and both stream_end lines are at or after the horizon
    assert_eq!(analysis.diagnostics.ignored_at_or_after_horizon, 4);
    assert_eq!(analysis.diagnostics.live_streams, 0);
}

#[test]
fn a_live_stream_without_stream_end_is_cut_at_as_of() {
    let lines = [
        r#"{"ts": 0, "session_id": "live", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 50000, "session_id": "live", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 80000, "session_id": "live", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 95000, "session_id": "live", "viewer_id": "v1", "kind": "purchase", "amount": 12.5}"#,
        r#"{"ts": 100000, "session_id": "live", "viewer_id": "v3", "kind": "join", "variant": "A"}"#,
    ];
    // as_of = 100000 + 1 = H: v1 T = 100001 censored (before W), v2 T = 30 s left, v3 T = 1 censored
    let analysis = run(&lines);
    let a = variant(&analysis, "A");
    assert_eq!(analysis.diagnostics.as_of_ms, 100_001);
    assert_eq!(analysis.diagnostics.live_streams, 1);
    assert_eq!(counts(a), (3, 1, 2, 2, 0));
    // nobody joined W before the horizon: mature is 0/0
    assert_eq!((a.mature.counts.retained, a.mature.counts.n), (0, 0));
    assert_eq!(a.mature.estimate.value, None);
    assert_eq!((a.excl_censored.counts.retained, a.excl_censored.counts.n), (0, 1));
    assert_eq!((a.orders, a.gmv_total), (1, 12.5));
    // --as-of 90000: the purchase and v3's join are at or after the horizon
    let params = Params { as_of: Some(90_000), ..Params::default() };
    let analysis = run_with(&lines, &params);
    let a = variant(&analysis, "A");
    assert_eq!(analysis.diagnostics.ignored_at_or_after_horizon, 2);
    assert_eq!(counts(a), (2, 1, 1, 1, 0));
    assert_eq!((a.orders, a.gmv_total), (0, 0.0));
    assert_eq!(a.retention.km.steps[0].t_ms, 30_000);
}

#[test]
fn duplicate_joins_and_orphan_leaves_are_counted_and_change_nothing() {
    let analysis = run(&[
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 5000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 50000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 55000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 56000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 1000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 2000, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 2000, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 200000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 1000000, "session_id": "s1", "kind": "stream_end"}"#,
    ]);
    assert_eq!(analysis.diagnostics.visits.ignored_duplicate_join, 2);
    assert_eq!(analysis.diagnostics.visits.ignored_orphan_leave, 3);
    // v1: 0..50 s (the duplicate join does not restart it), v2: 2..200 s
    assert_eq!(variant(&analysis, "A").retention.km.steps[0].t_ms, 50_000);
    assert_eq!(variant(&analysis, "B").retention.km.steps[0].t_ms, 198_000);
    assert_eq!(analysis.diagnostics.multiple_exposure_viewers, 0);
}

#[test]
fn events_after_stream_end_are_ignored_so_a_late_join_with_another_variant_is_no_exposure() {
    let analysis = run(&[
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 100000, "session_id": "s1", "viewer_id": "v1", "kind": "leave"}"#,
        r#"{"ts": 10000, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 20000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 500000, "session_id": "s1", "kind": "stream_end"}"#,
        // after s1's end: a late like, a late purchase, and a late join with variant B
        r#"{"ts": 510000, "session_id": "s1", "viewer_id": "v1", "kind": "like"}"#,
        r#"{"ts": 520000, "session_id": "s1", "viewer_id": "v1", "kind": "purchase", "amount": 10}"#,
        r#"{"ts": 600000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "B"}"#,
        // s2 is live (no stream_end): v2's join with B there is an exposure: multiple exposure
        r#"{"ts": 700000, "session_id": "s2", "viewer_id": "v2", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 650000, "session_id": "s2", "viewer_id": "v3", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 800000, "session_id": "s2", "viewer_id": "v3", "kind": "leave"}"#,
    ]);
    // s1's stream_end, like, purchase, join are at or after H_s1 = 500 s
    assert_eq!(analysis.diagnostics.ignored_at_or_after_horizon, 4);
    assert_eq!(analysis.diagnostics.multiple_exposure_viewers, 1);
    let a = variant(&analysis, "A");
    // only v1 (v2 is excluded): T = 100 s, left, C = 500 s
    assert_eq!(counts(a), (1, 1, 0, 0, 0));
    assert_eq!((a.mature.counts.retained, a.mature.counts.n, a.orders), (0, 1, 0));
    let b = variant(&analysis, "B");
    // v3: T = 150 s, C = as_of − 650 s = 800001 − 650000 = 150001 ms
    assert_eq!((b.mature.counts.retained, b.mature.counts.n), (1, 1));
    // each stream's exposures carry one variant (s1 A; s2 B): session-randomised, 1 stream per arm
    assert!(analysis.design.session_randomised);
    assert_eq!(analysis.design.sessions_per_variant, vec![1, 1]);
    assert_eq!(analysis.srm.observed, vec![1, 1]);
    assert!(analysis.design.warning.as_deref().unwrap_or("").contains("fewer than 2 streams"));
    assert!(analysis.design.cluster_robust[0].1.iter().all(Option::is_none));
}

#[test]
fn multiple_exposure_viewers_are_excluded_from_every_metric_and_from_srm() {
    let analysis = run(&[
        // v1 sees A then B in one visit: multiple exposure; their purchase counts nowhere
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 1000, "session_id": "s1", "viewer_id": "v1", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 5000, "session_id": "s1", "viewer_id": "v1", "kind": "purchase", "amount": 50}"#,
        // v2 re-joins with the same variant 90 s later: one exposure, two visits
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 10000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 100000, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "A"}"#,
        r#"{"ts": 300000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v3", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 200000, "session_id": "s1", "viewer_id": "v3", "kind": "leave"}"#,
        r#"{"ts": 150000, "session_id": "s1", "viewer_id": "v3", "kind": "purchase", "amount": 30.5}"#,
        r#"{"ts": 170000, "session_id": "s1", "viewer_id": "v3", "kind": "purchase", "amount": "abc"}"#,
        // v4 joins without a variant, is exposed to B by a (duplicate) join at 50 s
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v4", "kind": "join", "variant": ""}"#,
        r#"{"ts": 40000, "session_id": "s1", "viewer_id": "v4", "kind": "purchase", "amount": 7}"#,
        r#"{"ts": 50000, "session_id": "s1", "viewer_id": "v4", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 60000, "session_id": "s1", "viewer_id": "v4", "kind": "purchase", "amount": 10}"#,
        r#"{"ts": 300000, "session_id": "s1", "viewer_id": "v4", "kind": "leave"}"#,
        r#"{"ts": 1000000, "session_id": "s1", "kind": "stream_end"}"#,
    ]);
    assert_eq!(analysis.diagnostics.multiple_exposure_viewers, 1);
    assert_eq!(analysis.srm.observed, vec![1, 2]);
    assert!(!analysis.design.session_randomised, "s1 carries both variants");
    assert_eq!(analysis.diagnostics.visits.ignored_duplicate_join, 2);
    let a = variant(&analysis, "A");
    assert_eq!(counts(a), (1, 1, 0, 0, 1));
    assert_eq!(a.orders, 0);
    let b = variant(&analysis, "B");
    // v4's T runs from its exposure at 50 s: 250 s. Orders: v3 30.5 and "abc" (as 0), v4 10
    // (its purchase at 40 s came before the exposure)
    assert_eq!(b.retention.km.steps.iter().map(|s| s.t_ms).collect::<Vec<_>>(), vec![200_000, 250_000]);
    assert_eq!((b.orders, b.gmv_total, b.conversion.counts.retained), (3, 40.5, 2));
    assert_eq!(analysis.diagnostics.input.purchase_amount_invalid, 1);
    assert_eq!(analysis.diagnostics.ignored_purchase_unexposed_viewer, 0);
}

#[test]
fn purchases_count_in_any_stream_after_leaving_and_those_of_ids_that_never_joined_are_ignored() {
    let analysis = run(&[
        r#"{"ts": 0, "session_id": "s1", "viewer_id": 7, "kind": "join", "variant": "A"}"#,
        r#"{"ts": 60000, "session_id": "s1", "viewer_id": 7, "kind": "leave"}"#,
        // viewer "7" is viewer 7 (ids are cast to strings); s2, long after leaving s1
        r#"{"ts": 1500000, "session_id": "s2", "viewer_id": "7", "kind": "purchase", "amount": 99.9}"#,
        // at s1's horizon: ignored
        r#"{"ts": 1000000, "session_id": "s1", "viewer_id": 7, "kind": "purchase", "amount": 5}"#,
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v2", "kind": "join", "variant": "B"}"#,
        r#"{"ts": 130000, "session_id": "s1", "viewer_id": "v2", "kind": "leave"}"#,
        // at the exposure's own ts: counted; amounts missing or NaN count 0
        r#"{"ts": 0, "session_id": "s1", "viewer_id": "v2", "kind": "purchase", "amount": 20}"#,
        r#"{"ts": 1000, "session_id": "s1", "viewer_id": "v2", "kind": "purchase"}"#,
        r#"{"ts": 2000, "session_id": "s1", "viewer_id": "v2", "kind": "purchase", "amount": NaN}"#,
        // never joined: ignored (the second one is past s2's horizon, so counted there)
        r#"{"ts": 10000, "session_id": "s1", "viewer_id": "ghost", "kind": "purchase", "amount": 500}"#,
        r#"{"ts": 3000000, "session_id": "s2", "viewer_id": "ghost2", "kind": "purchase", "amount": 500}"#,
        r#"{"ts": 1000000, "session_id": "s1", "kind": "stream_end"}"#,
        r#"{"ts": 2000000, "session_id": "s2", "kind": "stream_end"}"#,
    ]);
    let a = variant(&analysis, "A");
    assert_eq!((a.orders, a.gmv_total, a.conversion.counts.retained), (1, 99.9, 1));
    let b = variant(&analysis, "B");
    assert_eq!((b.orders, b.gmv_total), (3, 20.0));
    let d = &analysis.diagnostics;
    assert_eq!(d.ignored_purchase_unexposed_viewer, 1);
    assert_eq!(d.input.purchase_amount_invalid, 2);
    // s1: the purchase and the stream_end at 1000 s; s2: ghost2 and its stream_end
    assert_eq!(d.ignored_at_or_after_horizon, 4);
}

#[test]
fn input_lines_are_rejected_or_ignored_exactly_by_section_1s_rules() {
    let analysis = run(&[
        r#"{"ts": 1000.9, "session_id": 5, "viewer_id": 1, "kind": "join", "variant": "A"}"#,
        r#"{"ts": "1000", "session_id": 5, "viewer_id": 9, "kind": "join", "variant": "A"}"#,
        "not json",
        "",
        r#"{"ts": 2000, "session_id": "5", "kind": "host_speech"}"#,
        r#"{"ts": 2000, "session_id": "5", "kind": "leave"}"#,
        r#"{"ts": NaN, "session_id": 5, "viewer_id": 1, "kind": "leave"}"#,
        r#"{"ts": true, "session_id": 5, "viewer_id": 1, "kind": "leave"}"#,
        r#"{"session_id": "5", "viewer_id": 2, "kind": "join"}"#,
        "[1, 2]",
        // viewer 1.0 is "1.0", not "1"
        r#"{"ts": 3000, "session_id": "5", "viewer_id": 1.0, "kind": "join", "variant": "B"}"#,
        r#"{"ts": 3000, "session_id": 5, "viewer_id": "1", "kind": "leave"}"#,
        r#"{"ts": 4000, "session_id": 5, "kind": 7}"#,
        r#"{"ts": 5000.5, "session_id": 5, "kind": "stream_end", "viewer_id": null}"#,
    ]);
    let d = &analysis.diagnostics;
    assert_eq!(d.input.lines, 14);
    assert_eq!(d.input.rejected_malformed_lines, 8);
    assert_eq!(d.input.ignored_unknown_kind, 2);
    assert_eq!(d.events_accepted, 4);
    // ts 1000.9 → 1000, 5000.5 → 5000: viewer "1" stayed 2 s; "1.0" is censored at 5 s after 2 s
    assert_eq!(variant(&analysis, "A").retention.km.steps[0].t_ms, 2000);
    let b = variant(&analysis, "B");
    assert_eq!(counts(b), (1, 0, 1, 1, 0));
    assert_eq!(d.as_of_ms, 5001);
}

#[test]
fn a_file_that_is_not_json_lines_or_has_no_events_is_an_error_not_a_panic() {
    let error = analyze(log(&["id,ts,kind", "1,2,join"]), &Params::default()).unwrap_err();
    assert_eq!(error, AnalysisError::NotJsonLines { lines: 2 });
    let error = analyze(log(&[r#"{"ts": 1, "session_id": 1, "kind": "speech"}"#]), &Params::default()).unwrap_err();
    assert!(matches!(error, AnalysisError::NoEvents { unknown: 1, .. }));
    let params = Params { control: Some("Z".into()), ..Params::default() };
    let error =
        analyze(log(&[r#"{"ts": 1, "session_id": 1, "viewer_id": 1, "kind": "join", "variant": "A"}"#]), &params);
    assert!(matches!(error, Err(AnalysisError::InvalidParams(_))));
}

#[test]
fn ten_against_ten_viewers_give_the_hand_computed_tests() {
    let mut lines = Vec::new();
    // A: 4 of 10 stay 200 s, 6 leave at 10, 20, .., 60 s. B: 7 stay 150 s, 3 leave at 60 s.
    for i in 0..10 {
        let leave_a = if i < 4 { 200_000 } else { 10_000 * (i - 3) };
        let leave_b = if i < 7 { 150_000 } else { 60_000 };
        lines.push(format!(r#"{{"ts": 0, "session_id": "s", "viewer_id": "a{i}", "kind": "join", "variant": "A"}}"#));
        lines.push(format!(r#"{{"ts": {leave_a}, "session_id": "s", "viewer_id": "a{i}", "kind": "leave"}}"#));
        lines.push(format!(r#"{{"ts": 0, "session_id": "s", "viewer_id": "b{i}", "kind": "join", "variant": "B"}}"#));
        lines.push(format!(r#"{{"ts": {leave_b}, "session_id": "s", "viewer_id": "b{i}", "kind": "leave"}}"#));
    }
    // GMV: a0 100; b0 50, b1 150
    lines.push(r#"{"ts": 1, "session_id": "s", "viewer_id": "a0", "kind": "purchase", "amount": 100}"#.into());
    lines.push(r#"{"ts": 1, "session_id": "s", "viewer_id": "b0", "kind": "purchase", "amount": 50}"#.into());
    lines.push(r#"{"ts": 1, "session_id": "s", "viewer_id": "b1", "kind": "purchase", "amount": 150}"#.into());
    lines.push(r#"{"ts": 10000000, "session_id": "s", "kind": "stream_end"}"#.into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let analysis = run(&refs);
    let a = variant(&analysis, "A");
    let b = variant(&analysis, "B");
    // no censoring: Greenwood telescopes to Σ 1/(n(n−1)) = 1/4 − 1/10 = 0.15 and V = Ŝ²Σ =
    // 0.16·0.15 = 0.024 = p(1−p)/n; B: one tied step, Σ = 3/(10·7), V = 0.49·3/70 = 0.021
    assert!(close(a.km_at_window.greenwood_sum, 0.15, 1e-14));
    assert!(close(a.km_at_window.variance, 0.024, 1e-14));
    assert!(close(b.km_at_window.variance, 0.021, 1e-14));
    // Wilson 4/10: (0.4 + z²/20)/(1 + z²/10) ± z·√(0.024 + z²/400)/(1 + z²/10) (statsmodels:
    // 0.1681803297062361, 0.6873262302663417)
    let ci = a.mature.estimate.ci.unwrap_or([0.0; 2]);
    assert!(close(ci[0], 0.168_180_329_706_236_1, 1e-13) && close(ci[1], 0.687_326_230_266_341_7, 1e-13));
    let c = &analysis.comparisons[0];
    // z-test: pooled 11/20, z = 0.3/√(0.55·0.45·(1/10 + 1/10)) = 1.348399724926484,
    // p = 2(1 − Φ(z)) = 0.17752985241215347; the 2×2 χ² = z² gives the same p
    assert!(close(c.mature_ztest.p_value.unwrap_or(0.0), 0.177_529_852_412_153_47, 1e-12));
    let chi2_p = c.mature_ztest.extra.iter().find(|(k, _)| *k == "chi2_p_value").and_then(|(_, v)| v.as_f64());
    assert!(close(chi2_p.unwrap_or(0.0), 0.177_529_852_412_153_47, 1e-12));
    // unpooled CI: 0.3 ± 1.959964·√(0.024 + 0.021) = [−0.11577114730490345, 0.7157711473049034]
    let ci = c.mature_ztest.diff_ci.unwrap_or([0.0; 2]);
    assert!(close(ci[0], -0.115_771_147_304_903_45, 1e-12) && close(ci[1], 0.715_771_147_304_903_4, 1e-12));
    // KM at W: the same diff and SE (no censoring): same CI
    let ci = c.km.diff_ci.unwrap_or([0.0; 2]);
    assert!(close(ci[0], -0.115_771_147_304_903_45, 1e-12));
    // Welch: means 10 and 20, variances 9000/9 = 1000 and 21000/9; SE = √(100 + 233.3) = 18.257;
    // t = 0.5477225575051661; dof = (1000/3)²·9/(10000 + 54444.4) = 450/29; scipy p = 0.5916745836478874
    assert!(close(c.gmv_per_viewer.p_value.unwrap_or(0.0), 0.591_674_583_647_887_4, 1e-12));
    assert!(close(b.gmv_per_viewer.variance.unwrap_or(0.0), 21_000.0 / 9.0, 1e-14));
    // Holm over {0.1775 (mature), 1 (conversion, 1 vs 2 buyers of 10 gives p 0.5312), 0.5917}
    assert_eq!(analysis.multiple_comparisons.len(), 3);
}
