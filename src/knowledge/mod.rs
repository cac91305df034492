//! Brand product knowledge in Postgres: import, the run of show, retrieval.
//!
//! Every product becomes a set of retrievable entries: its FAQ answers, and
//! entries made from its fields (price, stock, each attribute). Chinese is
//! segmented with jieba on write (`cut_for_search`) and on query (`cut`); the
//! words go through Postgres full-text search (`simple` configuration).

pub mod catalog;
pub mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::events::{RetrievedEntry, StagedProduct};
pub use catalog::Catalog;

/// Apply a whole catalogue atomically: brands and products are upserted,
/// each product's entries rebuilt, and each touched brand's knowledge
/// version bumped. Returns the new versions by brand.
pub async fn import_catalog(pool: &PgPool, catalog: &Catalog, changed_by: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let problems = catalog.validate();
    if !problems.is_empty() {
        anyhow::bail!("invalid catalogue: {}", problems.join("; "));
    }
    let mut tx = pool.begin().await?;
    let brands = catalog.all_brands();
    for b in &brands {
        sqlx::query(
            "INSERT INTO brands (brand_id, name, name_en) VALUES ($1, $2, $3) \
             ON CONFLICT (brand_id) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en",
        )
        .bind(&b.id)
        .bind(&b.name)
        .bind(&b.name_en)
        .execute(&mut *tx)
        .await?;
    }
    for (position, p) in catalog.products.iter().enumerate() {
        // unwrap: validate() ensured a brand exists for every product
        let brand_id = p.brand_id.clone().unwrap_or_else(|| brands[0].id.clone());
        upsert_product(&mut tx, &brand_id, position as i32, p).await?;
    }
    let mut versions = Vec::new();
    for b in &brands {
        let n = catalog.products.iter().filter(|p| p.brand_id.as_deref().unwrap_or(&brands[0].id) == b.id).count();
        let version = bump_version(&mut tx, &b.id, changed_by, &format!("import of {n} products")).await?;
        versions.push((b.id.clone(), version));
    }
    tx.commit().await?;
    Ok(versions)
}

async fn upsert_product(
    tx: &mut Transaction<'_, Postgres>,
    brand_id: &str,
    position: i32,
    p: &catalog::Product,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO products (product_id, brand_id, position, name, name_en, aliases, category, price, promo_price, \
         stock, attributes, pitch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::float8::numeric, $9::float8::numeric, $10, $11, $12) \
         ON CONFLICT (product_id) DO UPDATE SET brand_id = EXCLUDED.brand_id, position = EXCLUDED.position, \
         name = EXCLUDED.name, name_en = EXCLUDED.name_en, aliases = EXCLUDED.aliases, category = EXCLUDED.category, \
         price = EXCLUDED.price, promo_price = EXCLUDED.promo_price, stock = EXCLUDED.stock, \
         attributes = EXCLUDED.attributes, pitch = EXCLUDED.pitch",
    )
    .bind(&p.id)
    .bind(brand_id)
    .bind(position)
    .bind(&p.name)
    .bind(&p.name_en)
    .bind(&p.aliases)
    .bind(&p.category)
    .bind(p.price)
    .bind(p.promo_price)
    .bind(p.stock)
    .bind(sqlx::types::Json(&p.attributes))
    .bind(sqlx::types::Json(&p.pitch))
    .execute(&mut **tx)
    .await
    .with_context(|| format!("cannot write product {}", p.id))?;
    sqlx::query("DELETE FROM knowledge_entries WHERE product_id = $1").bind(&p.id).execute(&mut **tx).await?;
    let entries = entries_of(p);
    let vectors = embed_entries(&entries).await;
    for (entry, vectors) in entries.iter().zip(vectors) {
        let entry_id: i64 = sqlx::query_scalar(
            "INSERT INTO knowledge_entries (brand_id, product_id, kind, entry_key, questions, answer, answer_en, \
             search_terms, context_terms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING entry_id",
        )
        .bind(brand_id)
        .bind(&p.id)
        .bind(entry.kind)
        .bind(&entry.key)
        .bind(&entry.questions)
        .bind(&entry.answer)
        .bind(&entry.answer_en)
        .bind(&entry.search_terms)
        .bind(&entry.context_terms)
        .fetch_one(&mut **tx)
        .await
        .with_context(|| format!("cannot write entry {}", entry.key))?;
        for (ordinal, (source, vector)) in vectors.into_iter().enumerate() {
            sqlx::query("INSERT INTO knowledge_vectors (entry_id, ordinal, model, source, vector) VALUES ($1, $2, $3, $4, $5)")
                .bind(entry_id)
                .bind(ordinal as i32)
                .bind(EMBEDDING_MODEL)
                .bind(&source)
                .bind(&vector)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

const EMBEDDING_MODEL: &str = "use-m-v3-int8";

/// Vectors of every entry's texts, computed off the async threads. Without
/// the sentence encoder (models/setup.sh not run) entries get none and
/// retrieval is full-text only.
async fn embed_entries(entries: &[NewEntry]) -> Vec<Vec<(String, Vec<f32>)>> {
    let Ok(embedder) = crate::embed::Embedder::shared() else {
        return entries.iter().map(|_| Vec::new()).collect();
    };
    let texts: Vec<Vec<String>> = entries.iter().map(|e| e.embed_texts.clone()).collect();
    let result = tokio::task::spawn_blocking(move || {
        texts
            .into_iter()
            .map(|ts| ts.into_iter().filter_map(|t| embedder.embed(&t).ok().map(|v| (t, v))).collect())
            .collect::<Vec<Vec<(String, Vec<f32>)>>>()
    })
    .await;
    result.unwrap_or_else(|_| entries.iter().map(|_| Vec::new()).collect())
}

async fn bump_version(
    tx: &mut Transaction<'_, Postgres>,
    brand_id: &str,
    changed_by: &str,
    summary: &str,
) -> anyhow::Result<i64> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO knowledge_versions (brand_id, version, changed_by, summary) \
         SELECT $1, COALESCE(max(version), 0) + 1, $2, $3 FROM knowledge_versions WHERE brand_id = $1 \
         RETURNING version",
    )
    .bind(brand_id)
    .bind(changed_by)
    .bind(summary)
    .fetch_one(&mut **tx)
    .await?;
    Ok(version)
}

/// An entry to index, made from a product.
struct NewEntry {
    kind: &'static str,
    /// Texts whose sentence vectors lead to this entry.
    embed_texts: Vec<String>,
    key: String,
    questions: Vec<String>,
    answer: String,
    answer_en: Option<String>,
    search_terms: String,
    context_terms: String,
}

const PRICE_WORDS: &str = "多少钱 价格 价钱 怎么卖 优惠 便宜 到手价 折扣 券 price how much cost discount deal";
const STOCK_WORDS: &str = "库存 有货 现货 还有吗 还能拍 卖完 补货 stock available sold out in stock";

fn entries_of(p: &catalog::Product) -> Vec<NewEntry> {
    let names = std::iter::once(p.name.as_str())
        .chain(p.name_en.as_deref())
        .chain(p.aliases.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let name_en = p.name_en.clone().unwrap_or_else(|| p.name.clone());
    let make = |kind, key: String, questions: Vec<String>, extra: &str, answer: String, answer_en: Option<String>| {
        let search = format!("{names} {} {extra}", questions.join(" "));
        // Synthesised entries (price, stock, attributes) are reached by their
        // name-free questions; their answers name the product and would pull
        // every question about that product towards them. FAQ answers help.
        let mut embed_texts: Vec<String> = questions.clone();
        if kind == "faq" {
            embed_texts.push(answer.clone());
            embed_texts.extend(answer_en.clone());
        }
        NewEntry {
            kind,
            key,
            embed_texts,
            search_terms: text::index_terms(&search),
            context_terms: text::index_terms(&answer),
            questions,
            answer,
            answer_en,
        }
    };
    let mut out = Vec::new();
    let (answer, answer_en) = match p.promo_price {
        Some(promo) if promo < p.price => (
            format!("{}原价{}元，今天直播间到手价{}元。", p.name, yuan(p.price), yuan(promo)),
            format!("The {name_en} lists at {} yuan; in this live room today it is {} yuan.", yuan(p.price), yuan(promo)),
        ),
        _ => (
            format!("{}现在的价格是{}元。", p.name, yuan(p.price)),
            format!("The {name_en} is {} yuan.", yuan(p.price)),
        ),
    };
    let price_questions = vec!["多少钱".to_string(), "价格多少，有优惠吗".to_string(), "how much is it".to_string()];
    out.push(make("price", format!("{}#price", p.id), price_questions, PRICE_WORDS, answer, Some(answer_en)));
    let (answer, answer_en) = if p.stock > 0 {
        (
            format!("{}现在还有{}件现货，喜欢的抓紧拍。", p.name, p.stock),
            format!("The {name_en} has {} in stock right now.", p.stock),
        )
    } else {
        (format!("{}暂时卖完了，正在补货。", p.name), format!("The {name_en} is sold out for now; more is coming."))
    };
    let stock_questions = vec!["还有货吗".to_string(), "库存还有多少".to_string(), "is it still in stock".to_string()];
    out.push(make("stock", format!("{}#stock", p.id), stock_questions, STOCK_WORDS, answer, Some(answer_en)));
    for a in &p.attributes {
        let key_name = a.name_en.clone().unwrap_or_else(|| a.name.clone());
        let questions: Vec<String> = std::iter::once(format!("{}是多少", a.name))
            .chain(a.name_en.as_ref().map(|n| format!("what is the {n}")))
            .collect();
        let answer = format!("{}的{}是{}。", p.name, a.name, a.value);
        let answer_en = a.name_en.as_ref().map(|n| {
            format!("The {n} of the {name_en} is {}.", a.value_en.clone().unwrap_or_else(|| a.value.clone()))
        });
        out.push(make("attribute", format!("{}#attr:{key_name}", p.id), questions, "", answer, answer_en));
    }
    for (i, f) in p.faq.iter().enumerate() {
        let key = f.id.clone().unwrap_or_else(|| format!("{}#faq:{}", p.id, i + 1));
        out.push(make("faq", key, f.questions.clone(), "", f.answer.clone(), f.answer_en.clone()));
    }
    out
}

fn yuan(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.2}") }
}

/// The brand's products in order, as the room stages them, and the brand's
/// current knowledge version.
pub async fn run_of_show(pool: &PgPool, brand_id: &str) -> anyhow::Result<(Vec<StagedProduct>, i64)> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM knowledge_versions WHERE brand_id = $1")
            .bind(brand_id)
            .fetch_one(pool)
            .await?;
    let version = version.with_context(|| format!("unknown brand {brand_id:?}"))?;
    let rows = sqlx::query("SELECT product_id, name, pitch FROM products WHERE brand_id = $1 ORDER BY position, product_id")
        .bind(brand_id)
        .fetch_all(pool)
        .await?;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        let pitch: sqlx::types::Json<Vec<catalog::PitchSegment>> = row.try_get("pitch")?;
        products.push(StagedProduct {
            product_id: row.try_get("product_id")?,
            name: row.try_get("name")?,
            segments: pitch.0.into_iter().map(|s| s.sentences).filter(|s| !s.is_empty()).collect(),
        });
    }
    Ok((products, version))
}

pub async fn brand_exists(pool: &PgPool, brand_id: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM brands WHERE brand_id = $1)")
        .bind(brand_id)
        .fetch_one(pool)
        .await?)
}

/// How retrieval ranks: full-text only, vectors only, or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fts,
    Vector,
    Hybrid,
}

/// Retrieval over a brand's entries, the product on stage first: jieba
/// full-text search in Postgres and sentence-vector similarity, fused by
/// score.
#[derive(Clone)]
pub struct Retriever {
    pool: PgPool,
    embedder: Option<&'static crate::embed::Embedder>,
    vectors: Arc<Mutex<HashMap<String, (i64, Arc<VectorIndex>)>>>,
}

/// Entries returned per query.
const TOP_K: usize = 5;
/// Candidates each method hands to the fusion.
const CANDIDATES: usize = 20;
/// Score multiplier for entries of the product on stage: a bare "多少钱"
/// means the product being presented, while a named other product
/// ("保温杯多少钱") matches more words and still wins.
const ON_STAGE_BOOST: f64 = 1.5;
/// Cosine bonus for the product on stage, on the vector side.
const ON_STAGE_COSINE_BONUS: f32 = 0.16;
/// Weight of the normalised full-text score against the cosine.
const FTS_WEIGHT: f64 = 0.1;

fn fts_weight() -> f64 {
    tunable("LIVEROOM_HYBRID_FTS_WEIGHT", FTS_WEIGHT)
}

/// A retrieval constant, overridable from the environment for tuning runs
/// of `liveroom eval retrieval` (on the tune split only).
fn tunable(var: &str, default: f64) -> f64 {
    std::env::var(var).ok().and_then(|w| w.parse().ok()).unwrap_or(default)
}
/// Below this cosine a vector hit is no evidence at all (unrelated texts
/// score about 0.1, paraphrases 0.5 and more): a question with no full-text
/// match and no vector hit this close gets no answer.
const MIN_COSINE: f32 = 0.4;

/// A brand's sentence vectors, in memory (flat, row-major).
pub struct VectorIndex {
    entry_ids: Vec<i64>,
    on_product: Vec<Option<String>>,
    data: Vec<f32>,
}

impl VectorIndex {
    /// Every entry's best cosine to `q` (plus the on-stage bonus), for the
    /// entries with one at least `MIN_COSINE`.
    fn scores(&self, q: &[f32], product_on_stage: Option<&str>) -> HashMap<i64, f32> {
        let on_stage_bonus = tunable("LIVEROOM_HYBRID_STAGE_BONUS", f64::from(ON_STAGE_COSINE_BONUS)) as f32;
        let mut best: HashMap<i64, f32> = HashMap::new();
        for (row, v) in self.data.chunks_exact(crate::embed::DIM).enumerate() {
            let mut score = crate::embed::dot(q, v);
            if score < MIN_COSINE {
                continue;
            }
            if product_on_stage.is_some() && self.on_product[row].as_deref() == product_on_stage {
                score += on_stage_bonus;
            }
            let e = best.entry(self.entry_ids[row]).or_insert(f32::MIN);
            *e = e.max(score);
        }
        best
    }

    pub fn len(&self) -> usize {
        self.entry_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entry_ids.is_empty()
    }
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
        Retriever { pool, embedder, vectors: Arc::default() }
    }

    pub fn mode(&self) -> Mode {
        if self.embedder.is_some() { Mode::Hybrid } else { Mode::Fts }
    }

    pub async fn retrieve(
        &self,
        brand_id: &str,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<RetrievedEntry>> {
        self.retrieve_with(self.mode(), brand_id, product_on_stage, question).await
    }

    pub async fn retrieve_with(
        &self,
        mode: Mode,
        brand_id: &str,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<RetrievedEntry>> {
        // a product the question names (by name or alias) is the one it is about
        let named = self.named_product(brand_id, question).await?;
        let product_on_stage = named.as_deref().or(product_on_stage);
        let fts = if mode == Mode::Vector { Vec::new() } else { self.fts(brand_id, product_on_stage, question).await? };
        let cosines = if mode == Mode::Fts { HashMap::new() } else { self.vector(brand_id, product_on_stage, question).await? };
        // Score fusion: cosine plus the full-text rank score normalised by
        // the best one, weighted. Candidates: the full-text hits and the best
        // vector hits; every candidate has both scores (0 where one is absent).
        let max_fts = fts.iter().map(|(_, s, _)| *s).fold(0.0, f64::max).max(1e-9);
        let fts_weight = fts_weight();
        let mut candidates: HashMap<i64, (f64, Option<f64>, Option<f32>, Vec<String>)> = HashMap::new();
        for (id, score, terms) in &fts {
            let e = candidates.entry(*id).or_default();
            e.1 = Some(*score);
            e.3 = terms.clone();
        }
        let mut by_cosine: Vec<(&i64, &f32)> = cosines.iter().collect();
        by_cosine.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        for (id, _) in by_cosine.into_iter().take(CANDIDATES) {
            candidates.entry(*id).or_default();
        }
        for (id, e) in candidates.iter_mut() {
            e.2 = cosines.get(id).copied();
            let fts_part = e.1.map(|s| s / max_fts).unwrap_or(0.0);
            e.0 = match mode {
                Mode::Fts => e.1.unwrap_or(0.0),
                Mode::Vector => f64::from(e.2.unwrap_or(0.0)),
                Mode::Hybrid => f64::from(e.2.unwrap_or(0.0)) + fts_weight * fts_part,
            };
        }
        let mut ranked: Vec<(i64, (f64, Option<f64>, Option<f32>, Vec<String>))> = candidates.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.0.cmp(&b.0)));
        ranked.truncate(TOP_K);
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        let details = self.details(&ids).await?;
        let mut out = Vec::with_capacity(ranked.len());
        for (id, (score, fts_score, cosine, terms)) in ranked {
            let Some(mut entry) = details.get(&id).cloned() else { continue };
            let scope = if product_on_stage.is_some() && entry.product_id.as_deref() == product_on_stage { "product_on_stage" } else { "brand" };
            let mut why = vec![scope.to_string()];
            if let Some(s) = fts_score {
                why.push(format!("fts {s:.3} [{}]", terms.join(" ")));
            }
            if let Some(c) = cosine {
                why.push(format!("cosine {c:.3}"));
            }
            entry.score = score;
            entry.reason = why.join("; ");
            out.push(entry);
        }
        Ok(out)
    }

    /// The one product of the brand whose name, English name or an alias
    /// the question contains (the longest match wins), if any.
    async fn named_product(&self, brand_id: &str, question: &str) -> anyhow::Result<Option<String>> {
        let named: Option<String> = sqlx::query_scalar(
            "SELECT product_id FROM ( \
               SELECT p.product_id, length(n) AS len FROM products p, \
               unnest(array_append(array_append(p.aliases, p.name), coalesce(p.name_en, ''))) n \
               WHERE p.brand_id = $1 AND length(n) >= 2 AND strpos(lower($2), lower(n)) > 0 \
             ) m ORDER BY len DESC, product_id LIMIT 1",
        )
        .bind(brand_id)
        .bind(question)
        .fetch_optional(&self.pool)
        .await?;
        Ok(named)
    }

    /// Full-text candidates: (entry id, rank score, matched terms).
    async fn fts(&self, brand_id: &str, product_on_stage: Option<&str>, question: &str) -> anyhow::Result<Vec<(i64, f64, Vec<String>)>> {
        let terms = text::query_terms(question);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT e.entry_id, \
             (ts_rank_cd(e.search_tsv, q) * CASE WHEN e.product_id = $3 THEN $4 ELSE 1.0 END)::float8 AS score, \
             ARRAY(SELECT t FROM unnest($5::text[]) t WHERE e.search_tsv @@ to_tsquery('simple', quote_literal(t))) AS matched \
             FROM knowledge_entries e, to_tsquery('simple', $2) q \
             WHERE e.brand_id = $1 AND e.search_tsv @@ q \
             ORDER BY score DESC, e.entry_id LIMIT $6",
        )
        .bind(brand_id)
        .bind(text::or_tsquery(&terms))
        .bind(product_on_stage)
        .bind(ON_STAGE_BOOST)
        .bind(&terms)
        .bind(CANDIDATES as i64)
        .fetch_all(&self.pool)
        .await
        .context("full-text retrieval failed")?;
        rows.iter().map(|r| Ok((r.try_get("entry_id")?, r.try_get("score")?, r.try_get("matched")?))).collect()
    }

    /// Every entry's best cosine to the question.
    async fn vector(&self, brand_id: &str, product_on_stage: Option<&str>, question: &str) -> anyhow::Result<HashMap<i64, f32>> {
        let Some(embedder) = self.embedder else { return Ok(HashMap::new()) };
        let index = self.index(brand_id).await?;
        if index.is_empty() {
            return Ok(HashMap::new());
        }
        let question = question.to_string();
        let on_stage = product_on_stage.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let q = embedder.embed(&question)?;
            Ok(index.scores(&q, on_stage.as_deref()))
        })
        .await
        .context("vector search panicked")?
    }

    /// The brand's vector index for its current knowledge version.
    pub async fn index(&self, brand_id: &str) -> anyhow::Result<Arc<VectorIndex>> {
        let version: i64 = sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM knowledge_versions WHERE brand_id = $1")
            .bind(brand_id)
            .fetch_one(&self.pool)
            .await?;
        {
            // unwrap: the lock is never held across a panic
            let cache = self.vectors.lock().unwrap();
            if let Some((v, index)) = cache.get(brand_id) {
                if *v == version {
                    return Ok(index.clone());
                }
            }
        }
        let rows = sqlx::query(
            "SELECT v.entry_id, e.product_id, v.vector FROM knowledge_vectors v \
             JOIN knowledge_entries e ON e.entry_id = v.entry_id WHERE e.brand_id = $1 ORDER BY v.entry_id, v.ordinal",
        )
        .bind(brand_id)
        .fetch_all(&self.pool)
        .await?;
        let mut index = VectorIndex { entry_ids: Vec::new(), on_product: Vec::new(), data: Vec::new() };
        for r in rows {
            let v: Vec<f32> = r.try_get("vector")?;
            if v.len() != crate::embed::DIM {
                continue;
            }
            index.entry_ids.push(r.try_get("entry_id")?);
            index.on_product.push(r.try_get("product_id")?);
            index.data.extend(v);
        }
        let index = Arc::new(index);
        // unwrap: as above
        self.vectors.lock().unwrap().insert(brand_id.to_string(), (version, index.clone()));
        Ok(index)
    }

    async fn details(&self, ids: &[i64]) -> anyhow::Result<HashMap<i64, RetrievedEntry>> {
        let rows = sqlx::query(
            "SELECT e.entry_id, e.product_id, p.name AS product_name, e.kind, e.answer, e.answer_en \
             FROM knowledge_entries e LEFT JOIN products p ON p.product_id = e.product_id WHERE e.entry_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in rows {
            let id: i64 = r.try_get("entry_id")?;
            out.insert(
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
        Ok(out)
    }
}

/// Entry keys by id, for evaluation against labelled data.
pub async fn entry_keys(pool: &PgPool, brand_id: &str) -> anyhow::Result<HashMap<i64, String>> {
    let rows = sqlx::query("SELECT entry_id, entry_key FROM knowledge_entries WHERE brand_id = $1").bind(brand_id).fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get("entry_id")?, r.try_get("entry_key")?))).collect()
}
