//! Vector candidates: the question's sentence vector against the brand's
//! in-memory index, off the async threads.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;

use super::BrandIndex;

/// Every entry's best cosine to `question` (the product on stage's rows
/// with `on_stage_bonus` added); empty without the sentence encoder or vectors.
pub(super) async fn cosines(
    embedder: Option<&'static crate::embed::Embedder>,
    index: &Arc<BrandIndex>,
    product_on_stage: Option<&str>,
    question: &str,
    on_stage_bonus: f32,
) -> anyhow::Result<HashMap<i64, f32>> {
    let Some(embedder) = embedder else { return Ok(HashMap::new()) };
    if index.vectors.is_empty() {
        return Ok(HashMap::new());
    }
    let index = index.clone();
    let question = question.to_string();
    let on_stage = product_on_stage.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let q = embedder.embed(&question)?;
        Ok(index.vectors.scores(&q, on_stage.as_deref(), on_stage_bonus))
    })
    .await
    .context("vector search panicked")?
}
