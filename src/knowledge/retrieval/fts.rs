//! Full-text candidates: the question's jieba terms against the entries'
//! `search_tsv` in Postgres (`simple` configuration), ranked by
//! `ts_rank_cd`, the product on stage boosted.

use anyhow::Context;
use sqlx::{PgPool, Row};

use super::BrandIndex;
use crate::knowledge::text;

/// Score multiplier for entries of the product on stage: a bare "多少钱"
/// means the product being presented, while a named other product
/// ("保温杯多少钱") matches more words and still wins.
const ON_STAGE_BOOST: f64 = 1.5;

/// One full-text candidate.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FtsHit {
    pub(super) entry_id: i64,
    /// `ts_rank_cd`, times `ON_STAGE_BOOST` for the product on stage.
    pub(super) score: f64,
    /// The question's terms the entry matched.
    pub(super) matched_terms: Vec<String>,
}

/// The best `limit` full-text candidates for `question` among the entries
/// live at the index's version.
pub(super) async fn full_text_hits(
    pool: &PgPool,
    brand_id: &str,
    index: &BrandIndex,
    product_on_stage: Option<&str>,
    question: &str,
    limit: usize,
) -> anyhow::Result<Vec<FtsHit>> {
    let terms = text::query_terms(question);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let wide: Vec<String> = terms.iter().filter(|t| !index.hot_terms.contains(*t)).cloned().collect();
    // an empty brand-wide query matches nothing
    let wide_query = if wide.is_empty() { String::new() } else { text::or_tsquery(&wide) };
    // rank inside the version's live entries (the rule of
    // `store::LIVE_AT_VERSION`, with the version as $7): the brand-wide query
    // (its hot terms left out) or the full query within the product on
    // stage; the matched terms are worked out for the top rows only
    let rows = sqlx::query(
        "SELECT top.entry_id, top.score, \
         ARRAY(SELECT t FROM unnest($5::text[]) t WHERE e.search_tsv @@ to_tsquery('simple', quote_literal(t))) AS matched \
         FROM (SELECT e.entry_id, \
               (ts_rank_cd(e.search_tsv, q) * CASE WHEN e.product_id = $3 THEN $4 ELSE 1.0 END)::float8 AS score \
               FROM knowledge_entries e, to_tsquery('simple', $2) q, to_tsquery('simple', $8) w \
               WHERE e.brand_id = $1 AND e.version_from <= $7 AND (e.version_to IS NULL OR e.version_to > $7) \
               AND (e.search_tsv @@ w OR (e.product_id = $3 AND e.search_tsv @@ q)) \
               ORDER BY score DESC, e.entry_id LIMIT $6) top \
         JOIN knowledge_entries e ON e.entry_id = top.entry_id ORDER BY top.score DESC, top.entry_id",
    )
    .bind(brand_id)
    .bind(text::or_tsquery(&terms))
    .bind(product_on_stage)
    .bind(ON_STAGE_BOOST)
    .bind(&terms)
    .bind(limit as i64)
    .bind(index.version)
    .bind(wide_query)
    .fetch_all(pool)
    .await
    .context("full-text retrieval failed")?;
    rows.iter()
        .map(|r| {
            Ok(FtsHit {
                entry_id: r.try_get("entry_id")?,
                score: r.try_get("score")?,
                matched_terms: r.try_get("matched")?,
            })
        })
        .collect()
}
