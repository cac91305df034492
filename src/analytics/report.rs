//! The readable text report of an analysis (the §9 JSON holds every figure).

use std::fmt::Write;

use super::Analysis;
use super::compare::TestResult;

fn number(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.2}%", v * 100.0))
}

fn interval(ci: Option<[f64; 2]>, scale: f64, digits: usize) -> String {
    ci.map_or_else(|| "[-]".into(), |[a, b]| format!("[{:.digits$}, {:.digits$}]", a * scale, b * scale))
}

fn p_value(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 1e-4 => format!("{p:.2e}"),
        Some(p) => format!("{p:.4}"),
    }
}

fn test_line(out: &mut String, label: &str, test: &TestResult, scale: f64, unit: &str) {
    let _ = writeln!(
        out,
        "  {label:<28} diff {:>9}{unit} {:<24} p {:>9}  lift {:>8} {}",
        number(test.diff.map(|d| d * scale), 3),
        interval(test.diff_ci, scale, 3),
        p_value(test.p_value),
        percent(test.rel_lift),
        interval(test.rel_lift_ci, 100.0, 1),
    );
}

/// The report, ready to print.
pub fn text(analysis: &Analysis) -> String {
    let mut out = String::new();
    let d = &analysis.diagnostics;
    let p = &analysis.params;
    let _ = writeln!(
        out,
        "Retention A/B analysis (ANALYTICS.md v1): W = {} s, G = {} s, alpha = {}, as_of = {} ms",
        p.window_ms as f64 / 1000.0,
        p.grace_ms as f64 / 1000.0,
        p.alpha,
        d.as_of_ms
    );
    let _ = writeln!(
        out,
        "input: {} lines, {} events accepted, {} rejected (malformed), {} unknown kinds; {} streams ({} live)",
        d.input.lines,
        d.events_accepted,
        d.input.rejected_malformed_lines,
        d.input.ignored_unknown_kind,
        d.streams,
        d.live_streams
    );
    let _ = writeln!(
        out,
        "ignored: {} at/after horizon, {} duplicate joins, {} orphan leaves, {} purchases by unexposed viewers; \
         {} multiple-exposure viewers excluded; {} purchase amounts counted as 0",
        d.ignored_at_or_after_horizon,
        d.visits.ignored_duplicate_join,
        d.visits.ignored_orphan_leave,
        d.ignored_purchase_unexposed_viewer,
        d.multiple_exposure_viewers,
        d.input.purchase_amount_invalid
    );
    let design = &analysis.design;
    let unit = if design.session_randomised { "streams" } else { "viewers" };
    let _ = writeln!(
        out,
        "design: randomised by {}; SRM on {unit}: chi2 {:.3}, df {}, p {}{}",
        if design.session_randomised { "session" } else { "viewer" },
        analysis.srm.chi2,
        analysis.srm.df,
        p_value(Some(analysis.srm.p_value).filter(|p| p.is_finite())),
        if analysis.srm.flag { "  SRM FLAGGED: do not interpret the results below" } else { "" }
    );
    if let Some(warning) = &design.warning {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14} {:>8} {:>22} {:>22} {:>9} {:>12} {:>11} {:>12}",
        "variant", "viewers", "KM S(W-) [95% CI]", "mature k/n", "excl", "median s", "conversion", "GMV/viewer"
    );
    for v in &analysis.variants {
        let km = &v.km_at_window;
        let _ = writeln!(
            out,
            "{:<14} {:>8} {:>22} {:>22} {:>9} {:>12} {:>11} {:>12}",
            v.name,
            v.retention.viewers,
            format!("{} {}", percent(Some(km.value)), interval(Some(km.ci_loglog), 100.0, 1)),
            format!("{}/{} {}", v.mature.counts.retained, v.mature.counts.n, percent(v.mature.estimate.value)),
            percent(v.excl_censored.estimate.value),
            number(v.median_watch_s, 1),
            percent(v.conversion.estimate.value),
            number(v.gmv_per_viewer.mean, 3),
        );
    }
    for c in &analysis.comparisons {
        let _ = writeln!(out, "\n{} vs {} (differences B - A):", c.treatment, c.control);
        test_line(&mut out, "retention mature (z)", &c.mature_ztest, 100.0, "pp");
        test_line(&mut out, "retention excl_censored (z)", &c.excl_censored_ztest, 100.0, "pp");
        test_line(&mut out, "retention KM S(W-)", &c.km, 100.0, "pp");
        test_line(&mut out, "conversion (z)", &c.conversion, 100.0, "pp");
        test_line(&mut out, "GMV per viewer (Welch)", &c.gmv_per_viewer, 1.0, "");
        let hr = c.cox_hr_0_to_window.diff.map(f64::exp);
        let _ = writeln!(
            out,
            "  log-rank full p {}, 0..W p {}; Cox HR 0..W {} {} p {}; median diff {} s",
            p_value(c.logrank_full.p_value),
            p_value(c.logrank_0_to_window.p_value),
            number(hr, 3),
            interval(c.cox_hr_0_to_window.diff_ci.map(|[a, b]| [a.exp(), b.exp()]), 1.0, 3),
            p_value(c.cox_hr_0_to_window.p_value),
            number(c.median_watch_s_diff, 1)
        );
    }
    if !analysis.multiple_comparisons.is_empty() {
        let _ = writeln!(out, "\nmultiple comparisons (Holm, Benjamini-Hochberg):");
        for row in &analysis.multiple_comparisons {
            let _ = writeln!(
                out,
                "  {:<14} {:<18} p {:>9}  holm {:>9}  bh {:>9}",
                row.variant,
                row.metric,
                p_value(row.p),
                p_value(row.p_holm),
                p_value(row.p_bh)
            );
        }
    }
    out
}
