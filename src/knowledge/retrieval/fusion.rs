//! Score fusion: cosine plus the full-text rank score normalised by the best
//! one, weighted. Candidates are the full-text hits and the best vector hits;
//! every candidate has both scores (0 where one is absent). Pure: the same
//! hits always rank the same way (ties go to the smaller entry id).

use std::collections::HashMap;

use super::fts::FtsHit;
use super::{BrandIndex, Mode};
use crate::events::RetrievedEntry;

/// How the fusion weighs and cuts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Weights {
    pub(super) mode: Mode,
    /// Weight of the normalised full-text score against the cosine (hybrid).
    pub(super) fts_weight: f64,
    /// How many of the best vector hits become candidates.
    pub(super) vector_candidates: usize,
    /// How many candidates the ranking keeps.
    pub(super) top_k: usize,
}

/// One entry in the score fusion.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Candidate {
    pub(super) entry_id: i64,
    /// The fused score the ranking uses.
    pub(super) score: f64,
    /// The full-text rank score, where full text matched it.
    pub(super) fts: Option<f64>,
    /// The best cosine of its vectors, where it has one.
    pub(super) cosine: Option<f32>,
    /// The full-text terms it matched.
    pub(super) matched_terms: Vec<String>,
}

impl Candidate {
    fn new(entry_id: i64) -> Candidate {
        Candidate { entry_id, score: 0.0, fts: None, cosine: None, matched_terms: Vec::new() }
    }
}

/// The best `top_k` candidates, best first.
pub(super) fn rank(weights: &Weights, fts_hits: Vec<FtsHit>, cosines: &HashMap<i64, f32>) -> Vec<Candidate> {
    let max_fts = fts_hits.iter().map(|h| h.score).fold(0.0, f64::max).max(1e-9);
    let mut candidates: HashMap<i64, Candidate> = HashMap::new();
    for hit in fts_hits {
        let c = candidates.entry(hit.entry_id).or_insert_with(|| Candidate::new(hit.entry_id));
        c.fts = Some(hit.score);
        c.matched_terms = hit.matched_terms;
    }
    let mut by_cosine: Vec<(&i64, &f32)> = cosines.iter().collect();
    by_cosine.sort_by(|(id_a, cosine_a), (id_b, cosine_b)| cosine_b.total_cmp(cosine_a).then(id_a.cmp(id_b)));
    for (id, _) in by_cosine.into_iter().take(weights.vector_candidates) {
        candidates.entry(*id).or_insert_with(|| Candidate::new(*id));
    }
    for c in candidates.values_mut() {
        c.cosine = cosines.get(&c.entry_id).copied();
        let fts_part = c.fts.map(|s| s / max_fts).unwrap_or(0.0);
        c.score = match weights.mode {
            Mode::Fts => c.fts.unwrap_or(0.0),
            Mode::Vector => f64::from(c.cosine.unwrap_or(0.0)),
            Mode::Hybrid => f64::from(c.cosine.unwrap_or(0.0)) + weights.fts_weight * fts_part,
        };
    }
    let mut ranked: Vec<Candidate> = candidates.into_values().collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry_id.cmp(&b.entry_id)));
    ranked.truncate(weights.top_k);
    ranked
}

/// The ranked candidates as retrieved entries, each with its score and the
/// reason it was found (scope, full-text score and terms, cosine).
pub(super) fn retrieved_entries(
    index: &BrandIndex,
    ranked: Vec<Candidate>,
    product_on_stage: Option<&str>,
) -> Vec<RetrievedEntry> {
    let mut out = Vec::with_capacity(ranked.len());
    for Candidate { entry_id, score, fts, cosine, matched_terms } in ranked {
        let Some(mut entry) = index.details.get(&entry_id).cloned() else { continue };
        let scope = if product_on_stage.is_some() && entry.product_id.as_deref() == product_on_stage {
            "product_on_stage"
        } else {
            "brand"
        };
        let mut why = vec![scope.to_string()];
        if let Some(s) = fts {
            why.push(format!("fts {s:.3} [{}]", matched_terms.join(" ")));
        }
        if let Some(c) = cosine {
            why.push(format!("cosine {c:.3}"));
        }
        entry.score = score;
        entry.reason = why.join("; ");
        out.push(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(mode: Mode) -> Weights {
        Weights { mode, fts_weight: 0.1, vector_candidates: 2, top_k: 3 }
    }

    fn hit(entry_id: i64, score: f64, terms: &[&str]) -> FtsHit {
        FtsHit { entry_id, score, matched_terms: terms.iter().map(|t| t.to_string()).collect() }
    }

    fn ids(ranked: &[Candidate]) -> Vec<i64> {
        ranked.iter().map(|c| c.entry_id).collect()
    }

    #[test]
    fn hybrid_scores_add_the_weighted_full_text_score_normalised_by_the_best_one_to_the_cosine() {
        // entry 1: full text only (the best full-text score, so 1.0 normalised)
        // entry 2: both; entry 3: vector only
        let fts = vec![hit(1, 0.4, &["电饭煲"]), hit(2, 0.2, &["多少钱"])];
        let cosines = HashMap::from([(2, 0.5f32), (3, 0.6f32)]);
        let ranked = rank(&weights(Mode::Hybrid), fts, &cosines);
        assert_eq!(ids(&ranked), vec![3, 2, 1]);
        let score = |id: i64| ranked.iter().find(|c| c.entry_id == id).unwrap().score;
        assert!((score(3) - 0.6).abs() < 1e-6, "{}", score(3));
        assert!((score(2) - (0.5 + 0.1 * 0.5)).abs() < 1e-6, "{}", score(2));
        assert!((score(1) - 0.1).abs() < 1e-9, "{}", score(1));
        let two = ranked.iter().find(|c| c.entry_id == 2).unwrap();
        assert_eq!(
            (two.fts, two.cosine, two.matched_terms.clone()),
            (Some(0.2), Some(0.5), vec!["多少钱".to_string()])
        );
    }

    #[test]
    fn only_the_best_vector_hits_become_candidates_and_the_ranking_keeps_the_top_k() {
        let cosines = HashMap::from([(10, 0.9f32), (11, 0.8), (12, 0.7), (13, 0.6)]);
        let ranked = rank(&weights(Mode::Vector), Vec::new(), &cosines);
        assert_eq!(ids(&ranked), vec![10, 11], "two vector candidates");
        // full-text hits are candidates whatever their number; the top 3 stay
        let fts = vec![hit(1, 0.9, &[]), hit(2, 0.8, &[]), hit(3, 0.7, &[]), hit(4, 0.6, &[])];
        let ranked = rank(&weights(Mode::Fts), fts, &HashMap::new());
        assert_eq!(ids(&ranked), vec![1, 2, 3]);
        assert_eq!(ranked[0].score, 0.9, "full-text mode ranks by the raw rank score");
    }

    #[test]
    fn equal_scores_go_to_the_smaller_entry_id() {
        let cosines = HashMap::from([(7, 0.5f32), (5, 0.5), (6, 0.5)]);
        let ranked = rank(&Weights { vector_candidates: 3, ..weights(Mode::Hybrid) }, Vec::new(), &cosines);
        assert_eq!(ids(&ranked), vec![5, 6, 7]);
    }
}
