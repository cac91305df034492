//! What retrieval keeps in memory for one brand at one knowledge version:
//! the live entries' details, the product names a question may name, the
//! terms too common to search brand-wide, and the sentence vectors.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use sqlx::{PgPool, Row};

use super::tunable;
use crate::events::RetrievedEntry;
use crate::knowledge::store::LIVE_AT_VERSION;
use crate::knowledge::vectors::{self, VectorIndex, VectorRow};

/// In a catalogue this large, a term in more than `HOT_TERM_MAX_DOCS`
/// entries ("多少钱" in every price entry) is matched only within the product
/// on stage: brand-wide it would rank thousands of rows that the sentence
/// vectors tell apart better; the rare terms (names, models, specific words)
/// still search the whole brand. This bounds the rows ranked per query.
const HOT_TERMS_MIN_ENTRIES: i64 = 2000;
const HOT_TERM_MAX_DOCS: i64 = 100;

/// What retrieval keeps in memory for one brand at one knowledge version.
pub struct BrandIndex {
    pub version: i64,
    /// How many entries are live at the version.
    pub entries: i64,
    /// Lower-case product names and aliases (2+ characters) to product ids.
    names: HashMap<String, String>,
    /// The longest name in `names`, in characters.
    longest_name: usize,
    /// Terms matched only within the product on stage (see `HOT_TERM_MAX_DOCS`).
    pub(super) hot_terms: HashSet<String>,
    /// What a hit returns, by entry id.
    pub(super) details: HashMap<i64, RetrievedEntry>,
    pub vectors: VectorIndex,
}

/// A product id with its names, as the entries of the product carry them.
#[derive(sqlx::FromRow)]
struct ProductNames {
    product_id: Option<String>,
    product_names: Vec<String>,
}

impl BrandIndex {
    /// The brand's index at `version` from Postgres; vectors only `with_vectors`
    /// (the sentence encoder is set up to embed queries).
    pub(super) async fn load(
        pool: &PgPool,
        with_vectors: bool,
        brand_id: &str,
        version: i64,
    ) -> anyhow::Result<BrandIndex> {
        let entries: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM knowledge_entries e WHERE {LIVE_AT_VERSION}"
        )))
        .bind(brand_id)
        .bind(version)
        .fetch_one(pool)
        .await?;
        let detail_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT e.entry_id, e.product_id, e.product_name, e.kind, e.answer, e.answer_en FROM knowledge_entries e WHERE {LIVE_AT_VERSION}"
        )))
        .bind(brand_id)
        .bind(version)
        .fetch_all(pool)
        .await?;
        let mut details = HashMap::with_capacity(detail_rows.len());
        for r in detail_rows {
            let id: i64 = r.try_get("entry_id")?;
            details.insert(
                id,
                RetrievedEntry {
                    entry_id: id,
                    product_id: r.try_get("product_id")?,
                    product_name: r.try_get("product_name")?,
                    kind: r.try_get("kind")?,
                    answer: r.try_get("answer")?,
                    answer_en: r.try_get("answer_en")?,
                    score: 0.0,
                    reason: String::new(),
                },
            );
        }
        let mut names = HashMap::new();
        let name_rows: Vec<ProductNames> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT e.product_id, e.product_names FROM knowledge_entries e WHERE {LIVE_AT_VERSION} AND e.product_id IS NOT NULL"
        )))
        .bind(brand_id)
        .bind(version)
        .fetch_all(pool)
        .await?;
        for ProductNames { product_id, product_names } in name_rows {
            let Some(product) = product_id else { continue };
            for n in product_names {
                let n = n.trim().to_lowercase();
                if n.chars().count() >= 2 {
                    // the same name on two products: the smaller id, deterministically
                    let e = names.entry(n).or_insert_with(|| product.clone());
                    if product < *e {
                        *e = product.clone();
                    }
                }
            }
        }
        let longest_name = names.keys().map(|n| n.chars().count()).max().unwrap_or(0);
        let mut hot_terms = HashSet::new();
        if entries >= HOT_TERMS_MIN_ENTRIES {
            let cap = HOT_TERM_MAX_DOCS as i32;
            // the rule of LIVE_AT_VERSION, spelled out inside ts_stat's query text
            hot_terms = sqlx::query_scalar(
                "SELECT word FROM ts_stat(format('SELECT search_tsv FROM knowledge_entries e WHERE e.brand_id = %L \
                 AND e.version_from <= %s AND (e.version_to IS NULL OR e.version_to > %s)', $1::text, $2::bigint, $2::bigint)) \
                 WHERE ndoc > $3",
            )
            .bind(brand_id)
            .bind(version)
            .bind(cap)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
        }
        let mut rows = Vec::new();
        if with_vectors {
            let fetched = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT v.entry_id, e.product_id, v.vector FROM knowledge_vectors v \
                 JOIN knowledge_entries e ON e.entry_id = v.entry_id WHERE {LIVE_AT_VERSION} ORDER BY v.entry_id, v.ordinal"
            )))
            .bind(brand_id)
            .bind(version)
            .fetch_all(pool)
            .await?;
            for r in fetched {
                let vector: Vec<f32> = r.try_get("vector")?;
                if vector.len() == crate::embed::DIM {
                    rows.push(VectorRow {
                        entry_id: r.try_get("entry_id")?,
                        product_id: r.try_get("product_id")?,
                        vector,
                    });
                }
            }
        }
        let quantize = rows.len() >= vectors::INT8_MIN_VECTORS;
        let prefilter = (rows.len() as f64
            >= tunable("LIVEROOM_PREFILTER_MIN_VECTORS", vectors::BINARY_MIN_VECTORS as f64))
        .then_some(vectors::PREFILTER);
        let vectors = tokio::task::spawn_blocking(move || VectorIndex::build(rows, quantize, prefilter))
            .await
            .context("index build panicked")?;
        Ok(BrandIndex { version, entries, names, longest_name, hot_terms, details, vectors })
    }

    /// The product whose name, English name or alias the question contains
    /// (the longest match wins; ties go to the smaller id).
    pub(super) fn named_product(&self, question: &str) -> Option<&str> {
        let lower: Vec<char> = question.to_lowercase().chars().collect();
        // the best match so far: (its length in characters, its product)
        let mut best: Option<(usize, &str)> = None;
        for start in 0..lower.len() {
            for len in (2..=self.longest_name.min(lower.len() - start)).rev() {
                if best.is_some_and(|(l, _)| l > len) {
                    break;
                }
                let s: String = lower[start..start + len].iter().collect();
                if let Some(p) = self.names.get(&s) {
                    let better = match best {
                        None => true,
                        Some((l, q)) => len > l || (len == l && p.as_str() < q),
                    };
                    if better {
                        best = Some((len, p.as_str()));
                    }
                    break;
                }
            }
        }
        best.map(|(_, p)| p)
    }
}
