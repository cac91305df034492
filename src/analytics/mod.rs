//! Retention and A/B analysis, exactly per `shared/ANALYTICS.md` (spec v1).
//! Each file implements one part of the spec and cites its § numbers:
//!
//! - `input` (+ `pyjson`): §1, JSON Lines read as Python's `json.loads` reads
//!   them, with the rejected/ignored counters; the only I/O here
//! - `horizon`: §2 as_of, horizons, the observation window, ordering
//! - `exposure`: §3 first exposure, multiple exposure, population, design check
//! - `visits`: §4 raw intervals, censoring, re-join merge
//! - `survival` (+ `km`): §5 per-viewer survival data and the four estimators
//! - `commerce`: §6
//! - `per_variant`: §7
//! - `compare/`: §8 (SRM, proportions, KM, log-rank, Cox, Welch, Holm/BH,
//!   confidence sequences, the cluster-robust comparison)
//! - `output`: §9 JSON; `report`: the text report
//! - `special`: the special functions (normal, t, χ², incomplete beta/gamma)
//! - `export`: liveroom's event log in the §1 shape; `simulate`: synthetic logs
//!
//! Pure: no clock, no randomness except seeded generators in `simulate`.

pub mod commerce;
pub mod compare;
pub mod export;
pub mod exposure;
pub mod horizon;
pub mod input;
pub mod km;
pub mod output;
pub mod per_variant;
pub mod pyjson;
pub mod report;
pub mod simulate;
pub mod special;
pub mod survival;
pub mod visits;

use compare::{Comparison, Settings, TestResult, srm::SrmTest};
use input::ParsedLog;
use per_variant::VariantStats;
use survival::ViewerRecord;

/// The analysis parameters (the CLI's and the API's options).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// §2.1 `--as-of` (ms).
    pub as_of: Option<i64>,
    /// W (ms).
    pub window_ms: i64,
    /// G (ms).
    pub grace_ms: i64,
    pub alpha: f64,
    /// §8 the control; default the lexicographically smallest variant.
    pub control: Option<String>,
    /// §8.1 expected weights, in the lexicographic order of the variants.
    pub weights: Option<Vec<f64>>,
    /// §8.7 N*.
    pub seq_tuning: f64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            as_of: None,
            window_ms: 120_000,
            grace_ms: 10_000,
            alpha: 0.05,
            control: None,
            weights: None,
            seq_tuning: 5000.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("the input is not JSON Lines: none of its {lines} line(s) is a JSON value")]
    NotJsonLines { lines: u64 },
    #[error("the input has no usable events ({lines} line(s), {rejected} rejected, {unknown} of unknown kinds)")]
    NoEvents { lines: u64, rejected: u64, unknown: u64 },
    #[error("{0}")]
    InvalidParams(String),
}

/// §1-§6 counters beyond the input's.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Diagnostics {
    #[serde(flatten)]
    pub input: input::InputCounters,
    pub events_accepted: u64,
    pub ignored_at_or_after_horizon: u64,
    #[serde(flatten)]
    pub visits: visits::VisitCounters,
    pub ignored_purchase_unexposed_viewer: u64,
    pub multiple_exposure_viewers: u64,
    pub streams: u64,
    /// Streams without a `stream_end` (still live when the log was cut).
    pub live_streams: u64,
    pub as_of_ms: i64,
}

/// §3.4 and §8.8.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub session_randomised: bool,
    /// Streams whose exposures include each variant (in `Analysis::variants` order).
    pub sessions_per_variant: Vec<u64>,
    /// Per treatment: mature retention, conversion, GMV per viewer over
    /// streams (`None`: fewer than 2 streams in an arm).
    pub cluster_robust: Vec<(String, [Option<TestResult>; 3])>,
    pub warning: Option<String>,
}

/// §8.6 one row of the family.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyRow {
    pub variant: String,
    pub metric: &'static str,
    pub p: Option<f64>,
    pub p_holm: Option<f64>,
    pub p_bh: Option<f64>,
}

/// Everything §9 reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub params: Params,
    pub control: Option<String>,
    pub variants: Vec<VariantStats>,
    pub srm: SrmTest,
    /// §8.1 under a session-randomised design: the viewer-count test, kept for information.
    pub viewer_counts_informational: Option<SrmTest>,
    pub design: Design,
    pub comparisons: Vec<Comparison>,
    pub multiple_comparisons: Vec<FamilyRow>,
    pub diagnostics: Diagnostics,
}

/// §2-§8 on a parsed log.
pub fn analyze(log: ParsedLog, params: &Params) -> Result<Analysis, AnalysisError> {
    check_params(params)?;
    if log.counters.lines > 0 && log.json_lines == 0 {
        return Err(AnalysisError::NotJsonLines { lines: log.counters.lines });
    }
    let no_events = AnalysisError::NoEvents {
        lines: log.counters.lines,
        rejected: log.counters.rejected_malformed_lines,
        unknown: log.counters.ignored_unknown_kind,
    };
    let Some(horizons) = horizon::horizons(&log, params.as_of) else { return Err(no_events) };
    let ParsedLog { events, sessions, viewers, variants: variant_names, counters, .. } = log;
    let mut diagnostics = Diagnostics {
        input: counters,
        events_accepted: events.len() as u64,
        streams: sessions.len() as u64,
        live_streams: horizons.ended.iter().filter(|e| !**e).count() as u64,
        as_of_ms: horizons.as_of,
        ..Diagnostics::default()
    };
    let (events, ignored) = horizon::observed_in_order(events, &horizons);
    diagnostics.ignored_at_or_after_horizon = ignored;
    let (exposures, design_check) = exposure::exposures(&events, viewers.len(), sessions.len());
    diagnostics.multiple_exposure_viewers = exposures.iter().flatten().filter(|e| e.multiple).count() as u64;
    let (visits, visit_counters) = visits::analysis_visits(&events, &exposures, &horizons, params.grace_ms);
    diagnostics.visits = visit_counters;
    let (purchases, unexposed) = commerce::purchases(&events, &exposures);
    diagnostics.ignored_purchase_unexposed_viewer = unexposed;
    let records = survival::viewer_records(&exposures, &visits, &purchases, &horizons);
    drop(events);

    // the variants of the population, in lexicographic (code point) order
    let mut variant_ids: Vec<u32> = records.iter().map(|r| r.variant).collect();
    variant_ids.sort_unstable();
    variant_ids.dedup();
    variant_ids.sort_by(|a, b| variant_names.names[*a as usize].cmp(&variant_names.names[*b as usize]));
    let names: Vec<String> = variant_ids.iter().map(|&v| variant_names.name(v)).collect();
    let mut grouped: Vec<Vec<&ViewerRecord>> = vec![Vec::new(); variant_ids.len()];
    for record in &records {
        // unwrap: every record's variant is in the list
        grouped[variant_ids.iter().position(|&v| v == record.variant).unwrap()].push(record);
    }
    let z = -special::norm_ppf(params.alpha / 2.0);
    let settings = Settings { alpha: params.alpha, z, seq_tuning: params.seq_tuning };
    let stats: Vec<VariantStats> = names
        .iter()
        .zip(&grouped)
        .map(|(name, records)| per_variant::variant_stats(name.clone(), records, params.window_ms, params.alpha, z))
        .collect();

    let control_index = match &params.control {
        Some(control) => Some(names.iter().position(|n| n == control).ok_or_else(|| {
            AnalysisError::InvalidParams(format!("--control {control:?} is not a variant of the log ({names:?})"))
        })?),
        None => (!names.is_empty()).then_some(0),
    };
    if let Some(weights) = &params.weights
        && weights.len() != names.len()
    {
        return Err(AnalysisError::InvalidParams(format!(
            "--weights has {} value(s) but the log has {} variant(s) ({names:?})",
            weights.len(),
            names.len()
        )));
    }

    // §8.1 SRM on viewers, or on streams under a session-randomised design
    let viewer_counts: Vec<u64> = grouped.iter().map(|g| g.len() as u64).collect();
    let sessions_per_variant: Vec<u64> = variant_ids.iter().map(|&v| design_check.streams_with(v)).collect();
    let viewer_srm = compare::srm::srm(&viewer_counts, params.weights.as_deref());
    let (srm, viewer_counts_informational) = if design_check.session_randomised {
        (compare::srm::srm(&sessions_per_variant, params.weights.as_deref()), Some(viewer_srm))
    } else {
        (viewer_srm, None)
    };

    let mut comparisons = Vec::new();
    let mut cluster_robust = Vec::new();
    if let Some(a) = control_index {
        for b in (0..names.len()).filter(|&b| b != a) {
            comparisons.push(compare::compare(
                (&stats[a], &grouped[a]),
                (&stats[b], &grouped[b]),
                params.window_ms,
                &settings,
            ));
            if design_check.session_randomised {
                let clusters_a = compare::clusters_by_stream(&grouped[a], params.window_ms);
                let clusters_b = compare::clusters_by_stream(&grouped[b], params.window_ms);
                let tests =
                    [0, 1, 2].map(|m| compare::cluster::compare_ratios(&clusters_a[m], &clusters_b[m], &settings));
                cluster_robust.push((format!("{}_vs_{}", names[b], names[a]), tests));
            }
        }
    }
    let warning = design_check.session_randomised.then(|| {
        let too_few = sessions_per_variant.iter().any(|&k| k < 2);
        let mut text = String::from(
            "session-randomised design: whole streams carry one variant, so viewer-level p-values are \
             anti-conservative; read design.cluster_robust",
        );
        if too_few {
            text.push_str(
                "; an arm has fewer than 2 streams: nothing is estimable and the comparison is confounded with the stream",
            );
        }
        text
    });
    let multiple_comparisons = family(&comparisons);
    Ok(Analysis {
        params: params.clone(),
        control: control_index.map(|a| names[a].clone()),
        variants: stats,
        srm,
        viewer_counts_informational,
        design: Design {
            session_randomised: design_check.session_randomised,
            sessions_per_variant,
            cluster_robust,
            warning,
        },
        comparisons,
        multiple_comparisons,
        diagnostics,
    })
}

fn check_params(params: &Params) -> Result<(), AnalysisError> {
    let invalid = |message: &str| Err(AnalysisError::InvalidParams(message.into()));
    if params.window_ms <= 0 {
        return invalid("--window-ms must be positive");
    }
    if params.grace_ms < 0 {
        return invalid("--grace-ms must not be negative");
    }
    if !(params.alpha > 0.0 && params.alpha < 1.0) {
        return invalid("--alpha must be between 0 and 1");
    }
    if !(params.seq_tuning > 0.0 && params.seq_tuning.is_finite()) {
        return invalid("--seq-tuning must be a positive number");
    }
    if let Some(weights) = &params.weights
        && weights.iter().any(|w| !(*w > 0.0 && w.is_finite()))
    {
        return invalid("--weights must be positive numbers");
    }
    Ok(())
}

/// §8.6 the family {mature retention, conversion, GMV} × every treatment,
/// Holm and BH adjusted over the p-values that are defined.
fn family(comparisons: &[Comparison]) -> Vec<FamilyRow> {
    let mut rows = Vec::new();
    for comparison in comparisons {
        for (metric, test) in [
            ("retention_mature", &comparison.mature_ztest),
            ("conversion", &comparison.conversion),
            ("gmv_per_viewer", &comparison.gmv_per_viewer),
        ] {
            rows.push(FamilyRow {
                variant: comparison.treatment.clone(),
                metric,
                p: test.p_value,
                p_holm: None,
                p_bh: None,
            });
        }
    }
    let defined: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].p.is_some()).collect();
    let p_values: Vec<f64> = defined.iter().map(|&i| rows[i].p.unwrap_or(f64::NAN)).collect();
    let holm = compare::multiple::holm(&p_values);
    let bh = compare::multiple::benjamini_hochberg(&p_values);
    for (k, &i) in defined.iter().enumerate() {
        rows[i].p_holm = Some(holm[k]);
        rows[i].p_bh = Some(bh[k]);
    }
    rows
}

/// Read and analyse §1 JSON Lines.
pub fn analyze_reader(
    reader: impl std::io::BufRead,
    params: &Params,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Analysis> {
    let log = ParsedLog::read(reader, progress)?;
    Ok(analyze(log, params)?)
}

#[cfg(test)]
mod edge_case_tests;
#[cfg(test)]
mod output_tests;
#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod simulation_tests;
