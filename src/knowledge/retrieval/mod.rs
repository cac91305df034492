//! Retrieval over a brand's entries at a knowledge version, the product on
//! stage first: jieba full-text search in Postgres (`fts`) and sentence-vector
//! similarity in memory (`vector`), fused by score (`fusion`). What a brand
//! needs in memory at one version is loaded once and cached (`index`).

mod fts;
mod fusion;
mod index;
mod vector;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use crate::events::RetrievedEntry;
pub use index::BrandIndex;

/// How retrieval ranks: full-text only, vectors only, or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fts,
    Vector,
    Hybrid,
}

/// Retrieval over a brand's entries at a knowledge version, the product on
/// stage first: jieba full-text search in Postgres and sentence-vector
/// similarity, fused by score.
#[derive(Clone)]
pub struct Retriever {
    pool: PgPool,
    embedder: Option<&'static crate::embed::Embedder>,
    /// In-memory indexes by brand and knowledge version.
    indexes: Arc<Mutex<IndexCache>>,
}

/// The in-memory indexes, by brand and knowledge version.
type IndexCache = HashMap<IndexKey, Arc<BrandIndex>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct IndexKey {
    brand_id: String,
    version: i64,
}

/// Entries returned per query.
const TOP_K: usize = 5;
/// Candidates each method hands to the fusion.
const CANDIDATES: usize = 20;
/// Cosine bonus for the product on stage, on the vector side.
pub(crate) const ON_STAGE_COSINE_BONUS: f32 = 0.16;
/// Weight of the normalised full-text score against the cosine.
const FTS_WEIGHT: f64 = 0.1;
/// Index versions kept in memory (pinned sessions may use older ones).
const INDEXES_KEPT: usize = 16;

/// A retrieval constant, overridable from the environment for tuning runs
/// of `liveroom eval retrieval` (on the tune split only).
fn tunable(var: &str, default: f64) -> f64 {
    std::env::var(var).ok().and_then(|w| w.parse().ok()).unwrap_or(default)
}

impl Retriever {
    /// With the sentence encoder when it is set up (models/setup.sh), else
    /// full-text only.
    pub fn new(pool: PgPool) -> Retriever {
        let embedder = match crate::embed::Embedder::shared() {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, "no sentence encoder: retrieval is full-text only");
                None
            }
        };
        Retriever { pool, embedder, indexes: Arc::default() }
    }

    pub fn mode(&self) -> Mode {
        if self.embedder.is_some() { Mode::Hybrid } else { Mode::Fts }
    }

    /// The entries best answering `question` at knowledge `version` (a
    /// session's pinned one; `None`: the brand's current version).
    pub async fn retrieve(
        &self,
        brand_id: &str,
        version: Option<i64>,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<RetrievedEntry>> {
        self.retrieve_with(self.mode(), brand_id, version, product_on_stage, question).await
    }

    pub async fn retrieve_with(
        &self,
        mode: Mode,
        brand_id: &str,
        version: Option<i64>,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<RetrievedEntry>> {
        let index = self.index(brand_id, version).await?;
        // a product the question names (by name or alias) is the one it is about
        let named = index.named_product(question);
        let product_on_stage = named.or(product_on_stage);
        // the query embedding runs while Postgres does the full-text part
        let cosines = async {
            if mode == Mode::Fts {
                return Ok(HashMap::new());
            }
            let on_stage_bonus = tunable("LIVEROOM_HYBRID_STAGE_BONUS", f64::from(ON_STAGE_COSINE_BONUS)) as f32;
            vector::cosines(self.embedder, &index, product_on_stage, question, on_stage_bonus).await
        };
        let fts_hits = async {
            if mode == Mode::Vector {
                return Ok(Vec::new());
            }
            fts::full_text_hits(&self.pool, brand_id, &index, product_on_stage, question, CANDIDATES).await
        };
        let (cosines, fts_hits) = tokio::join!(cosines, fts_hits);
        let weights = fusion::Weights {
            mode,
            fts_weight: tunable("LIVEROOM_HYBRID_FTS_WEIGHT", FTS_WEIGHT),
            vector_candidates: CANDIDATES,
            top_k: TOP_K,
        };
        let ranked = fusion::rank(&weights, fts_hits?, &cosines?);
        Ok(fusion::retrieved_entries(&index, ranked, product_on_stage))
    }

    /// The brand's in-memory index at `version` (default: current), loaded
    /// from Postgres on first use.
    pub async fn index(&self, brand_id: &str, version: Option<i64>) -> anyhow::Result<Arc<BrandIndex>> {
        let version = match version {
            Some(v) => v,
            None => crate::knowledge::store::current_version(&self.pool, brand_id).await?.unwrap_or(0),
        };
        let key = IndexKey { brand_id: brand_id.to_string(), version };
        // unwrap: the lock is never held across a panic
        if let Some(index) = self.indexes.lock().unwrap().get(&key) {
            return Ok(index.clone());
        }
        let index = Arc::new(BrandIndex::load(&self.pool, self.embedder.is_some(), brand_id, version).await?);
        // unwrap: the lock is never held across a panic
        let mut cache = self.indexes.lock().unwrap();
        if cache.len() >= INDEXES_KEPT {
            // drop the oldest version of any brand
            if let Some(k) = cache.keys().min_by_key(|k| k.version).cloned() {
                cache.remove(&k);
            }
        }
        cache.insert(key, index.clone());
        Ok(index)
    }
}
