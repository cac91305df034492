//! Brand product knowledge in Postgres: import, the run of show, retrieval.
//!
//! Every product becomes a set of retrievable entries: its FAQ answers, and
//! entries made from its fields (price, stock, each attribute). Chinese is
//! segmented with jieba on write (`cut_for_search`) and on query (`cut`); the
//! words go through Postgres full-text search (`simple` configuration).

pub mod catalog;
pub mod store;
pub mod tabular;
pub mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sqlx::{PgPool, Row};

use crate::events::{RetrievedEntry, StagedProduct};
pub use catalog::Catalog;

/// Apply a whole catalogue atomically per brand: brands are created or
/// updated, the listed products created or replaced (others are kept), and
/// each touched brand's knowledge version bumped. Returns the new versions.
pub async fn import_catalog(pool: &PgPool, catalog: &Catalog, changed_by: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let problems = catalog.validate();
    if !problems.is_empty() {
        anyhow::bail!("invalid catalogue: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
    }
    let brands = catalog.all_brands();
    let mut versions = Vec::new();
    for b in &brands {
        let products: Vec<catalog::Product> = catalog
            .products
            .iter()
            .filter(|p| p.brand_id.as_deref().unwrap_or(&brands[0].id) == b.id)
            .cloned()
            .collect();
        let edit = store::Edit {
            brand: Some((*b).clone()),
            summary: format!("import of {} products", products.len()),
            upserts: products,
            ..Default::default()
        };
        let version = store::apply(pool, &b.id, changed_by, edit).await.map_err(|e| match e {
            store::StoreError::Invalid(p) => anyhow::anyhow!(
                "invalid catalogue: {}",
                p.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
            e => anyhow::Error::from(e),
        })?;
        versions.push((b.id.clone(), version));
    }
    Ok(versions)
}

const EMBEDDING_MODEL: &str = "use-m-v3-int8";

/// Vectors of `texts` (each distinct text embedded once), computed off the
/// async threads. `None` without the sentence encoder (models/setup.sh not
/// run): entries then get no vectors and retrieval is full-text only.
async fn embed_texts(texts: &[&str]) -> Option<Vec<Option<Vec<f32>>>> {
    let embedder = crate::embed::Embedder::shared().ok()?;
    let mut distinct: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    distinct.sort();
    distinct.dedup();
    let all: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut by_text: HashMap<String, Vec<f32>> = HashMap::with_capacity(distinct.len());
        // one text per run: int8 activations are quantised per run, so a
        // text's vector must not depend on what it was batched with
        for t in distinct {
            if let Ok(v) = embedder.embed(&t) {
                by_text.insert(t, v);
            }
        }
        all.iter().map(|t| by_text.get(t).cloned()).collect()
    })
    .await
    .ok()
}

/// An entry to index, made from a product.
pub(crate) struct NewEntry {
    pub(crate) kind: &'static str,
    /// Texts whose sentence vectors lead to this entry.
    pub(crate) embed_texts: Vec<String>,
    pub(crate) key: String,
    pub(crate) questions: Vec<String>,
    pub(crate) answer: String,
    pub(crate) answer_en: Option<String>,
    pub(crate) search_terms: String,
    pub(crate) context_terms: String,
}

const PRICE_WORDS: &str = "多少钱 价格 价钱 怎么卖 优惠 便宜 到手价 折扣 券 price how much cost discount deal";
const STOCK_WORDS: &str = "库存 有货 现货 还有吗 还能拍 卖完 补货 stock available sold out in stock";

pub(crate) fn entries_of(p: &catalog::Product) -> Vec<NewEntry> {
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
    // a promotion with an end says until when (the brand's own local time as given)
    let until = catalog::parse_time(p.promo_valid_until.as_deref()).ok().flatten();
    let (answer, answer_en) = match p.promo_price {
        Some(promo) if promo < p.price => match until {
            None => (
                format!("{}原价{}元，今天直播间到手价{}元。", p.name, yuan(p.price), yuan(promo)),
                format!(
                    "The {name_en} lists at {} yuan; in this live room today it is {} yuan.",
                    yuan(p.price),
                    yuan(promo)
                ),
            ),
            Some(t) => (
                format!(
                    "{}原价{}元，直播间到手价{}元，活动到{}。",
                    p.name,
                    yuan(p.price),
                    yuan(promo),
                    t.format("%-m月%-d日%H:%M")
                ),
                format!(
                    "The {name_en} lists at {} yuan; in this live room it is {} yuan until {}.",
                    yuan(p.price),
                    yuan(promo),
                    t.format("%b %-d, %H:%M")
                ),
            ),
        },
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
        let answer_en = a
            .name_en
            .as_ref()
            .map(|n| format!("The {n} of the {name_en} is {}.", a.value_en.clone().unwrap_or_else(|| a.value.clone())));
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
    let version: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM knowledge_versions WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_one(pool)
        .await?;
    let version = version.with_context(|| format!("unknown brand {brand_id:?}"))?;
    let rows =
        sqlx::query("SELECT product_id, name, pitch FROM products WHERE brand_id = $1 ORDER BY position, product_id")
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
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM brands WHERE brand_id = $1 AND deleted_at IS NULL)")
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

/// Retrieval over a brand's entries at a knowledge version, the product on
/// stage first: jieba full-text search in Postgres and sentence-vector
/// similarity, fused by score.
#[derive(Clone)]
pub struct Retriever {
    pool: PgPool,
    embedder: Option<&'static crate::embed::Embedder>,
    /// In-memory indexes by (brand, knowledge version).
    indexes: Arc<Mutex<IndexCache>>,
}

/// The in-memory indexes, by (brand, knowledge version).
type IndexCache = HashMap<(String, i64), Arc<BrandIndex>>;

/// One entry in the score fusion.
#[derive(Debug, Default)]
struct Candidate {
    /// The fused score the ranking uses.
    score: f64,
    /// The full-text rank score, where full text matched it.
    fts: Option<f64>,
    /// The best cosine of its vectors, where it has one.
    cosine: Option<f32>,
    /// The full-text terms it matched.
    terms: Vec<String>,
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
/// Above this many vectors a brand's index is kept as int8 (a quarter of
/// the memory and of the bytes scanned per query); below it, exact f32.
const INT8_MIN_VECTORS: usize = 4096;
/// In a catalogue this large, a term in more than `HOT_TERM_MAX_DOCS`
/// entries ("多少钱" in every price entry) is matched only within the product
/// on stage: brand-wide it would rank thousands of rows that the sentence
/// vectors tell apart better; the rare terms (names, models, specific words)
/// still search the whole brand. This bounds the rows ranked per query.
const HOT_TERMS_MIN_ENTRIES: i64 = 2000;
const HOT_TERM_MAX_DOCS: i64 = 100;
/// Above this many vectors a query first ranks all of them by the Hamming
/// distance of their sign bits (64 bytes a vector), then scores the
/// `PREFILTER` nearest, and every vector of the product on stage, exactly.
const BINARY_MIN_VECTORS: usize = 50_000;
const PREFILTER: usize = 3000;
/// Index versions kept in memory (pinned sessions may use older ones).
const INDEXES_KEPT: usize = 16;

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

/// What retrieval keeps in memory for one brand at one knowledge version.
pub struct BrandIndex {
    pub version: i64,
    pub entries: i64,
    /// Lower-case product names and aliases (2+ characters) to product ids.
    names: HashMap<String, String>,
    longest_name: usize,
    /// Terms matched only within the product on stage (see `HOT_TERM_MAX_DOCS`).
    hot_terms: std::collections::HashSet<String>,
    /// What a hit returns, by entry id.
    details: HashMap<i64, RetrievedEntry>,
    pub vectors: VectorIndex,
}

/// A brand's sentence vectors, in memory (flat, row-major): exact f32, or
/// int8 with one scale per vector for large catalogues.
pub struct VectorIndex {
    entry_ids: Vec<i64>,
    on_product: Vec<Option<Arc<str>>>,
    data: Vectors,
    /// Sign bits, 8 words a vector, for the prefilter of large indexes.
    bits: Option<Vec<u64>>,
    /// How many prefilter candidates are scored exactly.
    prefilter: usize,
    /// Rows of each product, to score the product on stage exactly.
    product_rows: HashMap<Arc<str>, Vec<u32>>,
}

const WORDS: usize = crate::embed::DIM / 64;

fn sign_bits(v: &[f32], out: &mut Vec<u64>) {
    for chunk in v.chunks_exact(64) {
        out.push(chunk.iter().enumerate().fold(0u64, |w, (i, x)| if *x > 0.0 { w | (1 << i) } else { w }));
    }
}

fn hamming(a: &[u64], b: &[u64]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT, checked just above
            return unsafe { hamming_popcnt(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

enum Vectors {
    F32(Vec<f32>),
    I8 { data: Vec<i8>, scales: Vec<f32> },
}

impl VectorIndex {
    fn build(rows: Vec<(i64, Option<String>, Vec<f32>)>, quantize: bool, prefilter: Option<usize>) -> VectorIndex {
        let mut products: HashMap<String, Arc<str>> = HashMap::new();
        let mut entry_ids = Vec::with_capacity(rows.len());
        let mut on_product = Vec::with_capacity(rows.len());
        let mut f = Vec::new();
        let mut q = Vec::new();
        let mut scales = Vec::new();
        let with_bits = quantize && prefilter.is_some();
        let mut bits = Vec::new();
        let mut product_rows: HashMap<Arc<str>, Vec<u32>> = HashMap::new();
        for (row, (id, product, v)) in rows.into_iter().enumerate() {
            entry_ids.push(id);
            let product = product.map(|p| products.entry(p.clone()).or_insert_with(|| Arc::from(p.as_str())).clone());
            if let Some(p) = &product {
                product_rows.entry(p.clone()).or_default().push(row as u32);
            }
            on_product.push(product);
            if with_bits {
                sign_bits(&v, &mut bits);
            }
            if quantize {
                let (qv, scale) = quantize_i8(&v);
                q.extend(qv);
                scales.push(scale);
            } else {
                f.extend(v);
            }
        }
        let data = if quantize { Vectors::I8 { data: q, scales } } else { Vectors::F32(f) };
        VectorIndex {
            entry_ids,
            on_product,
            data,
            bits: with_bits.then_some(bits),
            prefilter: prefilter.unwrap_or(0),
            product_rows,
        }
    }

    /// Every entry's best cosine to `q` (plus the on-stage bonus), for the
    /// entries with one at least `MIN_COSINE`.
    fn scores(&self, q: &[f32], product_on_stage: Option<&str>) -> HashMap<i64, f32> {
        let on_stage_bonus = tunable("LIVEROOM_HYBRID_STAGE_BONUS", f64::from(ON_STAGE_COSINE_BONUS)) as f32;
        let mut best: HashMap<i64, f32> = HashMap::new();
        let mut hit = |row: usize, mut score: f32| {
            if product_on_stage.is_some() && self.on_product[row].as_deref() == product_on_stage {
                score += on_stage_bonus;
            }
            let e = best.entry(self.entry_ids[row]).or_insert(f32::MIN);
            *e = e.max(score);
        };
        match &self.data {
            Vectors::F32(data) => {
                for (row, v) in data.chunks_exact(crate::embed::DIM).enumerate() {
                    let score = crate::embed::dot(q, v);
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
            Vectors::I8 { data, scales } if self.bits.is_some() => {
                let bits = self.bits.as_deref().unwrap_or_default();
                let mut qbits = Vec::with_capacity(WORDS);
                sign_bits(q, &mut qbits);
                let mut near: Vec<(u32, u32)> =
                    bits.chunks_exact(WORDS).enumerate().map(|(row, b)| (hamming(&qbits, b), row as u32)).collect();
                let k = self.prefilter.min(near.len());
                if k < near.len() {
                    near.select_nth_unstable(k);
                    near.truncate(k);
                }
                let mut rows: Vec<u32> = near.into_iter().map(|(_, row)| row).collect();
                if let Some(on_stage) = product_on_stage.and_then(|p| self.product_rows.get(p)) {
                    rows.extend(on_stage);
                }
                rows.sort_unstable();
                rows.dedup();
                let (qq, qscale) = quantize_i8(q);
                const D: usize = crate::embed::DIM;
                for row in rows {
                    let row = row as usize;
                    let score = dot_i8(&qq, &data[row * D..(row + 1) * D]) as f32 * qscale * scales[row];
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
            Vectors::I8 { data, scales } => {
                let (qq, qscale) = quantize_i8(q);
                for (row, v) in data.chunks_exact(crate::embed::DIM).enumerate() {
                    let score = dot_i8(&qq, v) as f32 * qscale * scales[row];
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
        }
        best
    }

    pub fn len(&self) -> usize {
        self.entry_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entry_ids.is_empty()
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self.data, Vectors::I8 { .. })
    }

    /// Whether queries go through the sign-bit prefilter.
    pub fn is_prefiltered(&self) -> bool {
        self.bits.is_some()
    }
}

/// Symmetric int8 quantisation: `v ≈ q * scale`.
fn quantize_i8(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

/// The same sum, compiled for AVX2 (twice the lanes of the baseline SSE2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    // 16-wide blocks keep the baseline build in SIMD lanes
    let mut sum = 0i32;
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        let mut block = 0i32;
        for i in 0..16 {
            block += i32::from(x[i]) * i32::from(y[i]);
        }
        sum += block;
    }
    sum
}

#[cfg(test)]
mod vector_tests {
    use super::*;

    #[test]
    fn the_int8_dot_product_is_exact_on_every_path() {
        let a: Vec<i8> = (0..512).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..512).map(|i| ((i * 91) % 253 - 126) as i8).collect();
        let want: i32 = a.iter().zip(&b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
        assert_eq!(dot_i8(&a, &b), want);
        assert_eq!(dot_i8_portable(&a, &b), want);
    }

    fn unit(seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..crate::embed::DIM)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    #[test]
    fn the_sign_bit_prefilter_finds_what_the_full_scan_finds_and_always_scores_the_product_on_stage() {
        let rows: Vec<(i64, Option<String>, Vec<f32>)> = (0..3000)
            .map(|i| (i as i64, Some(if i == 2999 { "stage".to_string() } else { format!("p{}", i % 50) }), unit(i)))
            .collect();
        let full = VectorIndex::build(rows.clone(), true, None);
        let pre = VectorIndex::build(rows, true, Some(60));
        assert!(pre.is_prefiltered() && !full.is_prefiltered());
        for target in [7u64, 500, 1234, 2500] {
            // a paraphrase: the target plus noise, cosine about 0.8
            let noise = unit(10_000 + target);
            let q: Vec<f32> = unit(target).iter().zip(&noise).map(|(a, b)| a + 0.7 * b).collect();
            let n = q.iter().map(|a| a * a).sum::<f32>().sqrt();
            let q: Vec<f32> = q.into_iter().map(|a| a / n).collect();
            let best = |m: HashMap<i64, f32>| m.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|x| x.0);
            assert_eq!(best(pre.scores(&q, None)), Some(target as i64));
            assert_eq!(best(full.scores(&q, None)), Some(target as i64));
        }
        // the product on stage is scored even when the prefilter cuts it off:
        // 100 close distractors fill the cut, the stage's row is further away
        let q = unit(77_777);
        let mix = |w: f32, seed: u64| {
            let v: Vec<f32> = q.iter().zip(unit(seed)).map(|(a, b)| a + w * b).collect();
            let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.into_iter().map(|a| a / n).collect::<Vec<f32>>()
        };
        let mut rows: Vec<(i64, Option<String>, Vec<f32>)> =
            (0..100).map(|i| (i, Some("other".to_string()), mix(0.3, 20_000 + i as u64))).collect();
        rows.push((100, Some("stage".into()), mix(1.6, 30_000)));
        rows.extend((101..3000).map(|i| (i, Some(format!("p{}", i % 50)), unit(40_000 + i as u64))));
        let pre = VectorIndex::build(rows, true, Some(60));
        assert!(!pre.scores(&q, None).contains_key(&100), "the stage's row is beyond the prefilter's cut");
        assert!(pre.scores(&q, Some("stage")).contains_key(&100), "but it is scored when on stage");
    }

    #[test]
    fn int8_cosines_stay_within_a_hundredth_of_the_exact_ones() {
        let v: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37).sin()).collect();
        let w: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37 + 0.5).sin()).collect();
        let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let (v, w): (Vec<f32>, Vec<f32>) =
            (v.iter().map(|x| x / norm(&v)).collect(), w.iter().map(|x| x / norm(&w)).collect());
        let exact = crate::embed::dot(&v, &w);
        let (qv, sv) = quantize_i8(&v);
        let (qw, sw) = quantize_i8(&w);
        let approx = dot_i8(&qv, &qw) as f32 * sv * sw;
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
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
        let vector = async {
            if mode == Mode::Fts { Ok(HashMap::new()) } else { self.vector(&index, product_on_stage, question).await }
        };
        let fts = async {
            if mode == Mode::Vector {
                Ok(Vec::new())
            } else {
                self.fts(brand_id, &index, product_on_stage, question).await
            }
        };
        let (cosines, fts) = tokio::join!(vector, fts);
        let (cosines, fts) = (cosines?, fts?);
        // Score fusion: cosine plus the full-text rank score normalised by
        // the best one, weighted. Candidates: the full-text hits and the best
        // vector hits; every candidate has both scores (0 where one is absent).
        let max_fts = fts.iter().map(|(_, s, _)| *s).fold(0.0, f64::max).max(1e-9);
        let fts_weight = fts_weight();
        let mut candidates: HashMap<i64, Candidate> = HashMap::new();
        for (id, score, terms) in &fts {
            let e = candidates.entry(*id).or_default();
            e.fts = Some(*score);
            e.terms = terms.clone();
        }
        let mut by_cosine: Vec<(&i64, &f32)> = cosines.iter().collect();
        by_cosine.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        for (id, _) in by_cosine.into_iter().take(CANDIDATES) {
            candidates.entry(*id).or_default();
        }
        for (id, e) in candidates.iter_mut() {
            e.cosine = cosines.get(id).copied();
            let fts_part = e.fts.map(|s| s / max_fts).unwrap_or(0.0);
            e.score = match mode {
                Mode::Fts => e.fts.unwrap_or(0.0),
                Mode::Vector => f64::from(e.cosine.unwrap_or(0.0)),
                Mode::Hybrid => f64::from(e.cosine.unwrap_or(0.0)) + fts_weight * fts_part,
            };
        }
        let mut ranked: Vec<(i64, Candidate)> = candidates.into_iter().collect();
        ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        ranked.truncate(TOP_K);
        let mut out = Vec::with_capacity(ranked.len());
        for (id, Candidate { score, fts: fts_score, cosine, terms }) in ranked {
            let Some(mut entry) = index.details.get(&id).cloned() else { continue };
            let scope = if product_on_stage.is_some() && entry.product_id.as_deref() == product_on_stage {
                "product_on_stage"
            } else {
                "brand"
            };
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

    /// Full-text candidates: (entry id, rank score, matched terms).
    async fn fts(
        &self,
        brand_id: &str,
        index: &BrandIndex,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<(i64, f64, Vec<String>)>> {
        let terms = text::query_terms(question);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let wide: Vec<String> = terms.iter().filter(|t| !index.hot_terms.contains(*t)).cloned().collect();
        // an empty brand-wide query matches nothing
        let wide_query = if wide.is_empty() { String::new() } else { text::or_tsquery(&wide) };
        // rank inside the version's live entries: the brand-wide query (its
        // hot terms left out) or the full query within the product on stage;
        // the matched terms are worked out for the top rows only
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
        .bind(CANDIDATES as i64)
        .bind(index.version)
        .bind(wide_query)
        .fetch_all(&self.pool)
        .await
        .context("full-text retrieval failed")?;
        rows.iter().map(|r| Ok((r.try_get("entry_id")?, r.try_get("score")?, r.try_get("matched")?))).collect()
    }

    /// Every entry's best cosine to the question.
    async fn vector(
        &self,
        index: &Arc<BrandIndex>,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<HashMap<i64, f32>> {
        let Some(embedder) = self.embedder else { return Ok(HashMap::new()) };
        if index.vectors.is_empty() {
            return Ok(HashMap::new());
        }
        let index = index.clone();
        let question = question.to_string();
        let on_stage = product_on_stage.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let q = embedder.embed(&question)?;
            Ok(index.vectors.scores(&q, on_stage.as_deref()))
        })
        .await
        .context("vector search panicked")?
    }

    /// The brand's in-memory index at `version` (default: current), loaded
    /// from Postgres on first use.
    pub async fn index(&self, brand_id: &str, version: Option<i64>) -> anyhow::Result<Arc<BrandIndex>> {
        let version = match version {
            Some(v) => v,
            None => {
                sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM knowledge_versions WHERE brand_id = $1")
                    .bind(brand_id)
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        let key = (brand_id.to_string(), version);
        // unwrap: the lock is never held across a panic
        if let Some(index) = self.indexes.lock().unwrap().get(&key) {
            return Ok(index.clone());
        }
        let index = Arc::new(self.load_index(brand_id, version).await?);
        let mut cache = self.indexes.lock().unwrap();
        if cache.len() >= INDEXES_KEPT {
            // drop the oldest version of any brand
            if let Some(k) = cache.keys().min_by_key(|k| k.1).cloned() {
                cache.remove(&k);
            }
        }
        cache.insert(key, index.clone());
        Ok(index)
    }

    async fn load_index(&self, brand_id: &str, version: i64) -> anyhow::Result<BrandIndex> {
        const LIVE: &str = "e.brand_id = $1 AND e.version_from <= $2 AND (e.version_to IS NULL OR e.version_to > $2)";
        let entries: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM knowledge_entries e WHERE {LIVE}")))
                .bind(brand_id)
                .bind(version)
                .fetch_one(&self.pool)
                .await?;
        let detail_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT e.entry_id, e.product_id, e.product_name, e.kind, e.answer, e.answer_en FROM knowledge_entries e WHERE {LIVE}"
        )))
        .bind(brand_id)
        .bind(version)
        .fetch_all(&self.pool)
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
        let name_rows: Vec<(Option<String>, Vec<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT e.product_id, e.product_names FROM knowledge_entries e WHERE {LIVE} AND e.product_id IS NOT NULL"
        )))
        .bind(brand_id)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        for (product, list) in name_rows {
            let Some(product) = product else { continue };
            for n in list {
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
        let mut hot_terms = std::collections::HashSet::new();
        if entries >= HOT_TERMS_MIN_ENTRIES {
            let cap = HOT_TERM_MAX_DOCS as i32;
            hot_terms = sqlx::query_scalar(
                "SELECT word FROM ts_stat(format('SELECT search_tsv FROM knowledge_entries e WHERE e.brand_id = %L \
                 AND e.version_from <= %s AND (e.version_to IS NULL OR e.version_to > %s)', $1::text, $2::bigint, $2::bigint)) \
                 WHERE ndoc > $3",
            )
            .bind(brand_id)
            .bind(version)
            .bind(cap)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        }
        let mut rows = Vec::new();
        if self.embedder.is_some() {
            let fetched = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT v.entry_id, e.product_id, v.vector FROM knowledge_vectors v \
                 JOIN knowledge_entries e ON e.entry_id = v.entry_id WHERE {LIVE} ORDER BY v.entry_id, v.ordinal"
            )))
            .bind(brand_id)
            .bind(version)
            .fetch_all(&self.pool)
            .await?;
            for r in fetched {
                let v: Vec<f32> = r.try_get("vector")?;
                if v.len() == crate::embed::DIM {
                    rows.push((r.try_get("entry_id")?, r.try_get("product_id")?, v));
                }
            }
        }
        let quantize = rows.len() >= INT8_MIN_VECTORS;
        let prefilter = (rows.len() as f64 >= tunable("LIVEROOM_PREFILTER_MIN_VECTORS", BINARY_MIN_VECTORS as f64))
            .then_some(PREFILTER);
        let vectors = tokio::task::spawn_blocking(move || VectorIndex::build(rows, quantize, prefilter))
            .await
            .context("index build panicked")?;
        Ok(BrandIndex { version, entries, names, longest_name, hot_terms, details, vectors })
    }
}

impl BrandIndex {
    /// The product whose name, English name or alias the question contains
    /// (the longest match wins; ties go to the smaller id).
    fn named_product(&self, question: &str) -> Option<&str> {
        let lower: Vec<char> = question.to_lowercase().chars().collect();
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

/// Entry keys by id, for evaluation against labelled data.
pub async fn entry_keys(pool: &PgPool, brand_id: &str) -> anyhow::Result<HashMap<i64, String>> {
    let rows = sqlx::query("SELECT entry_id, entry_key FROM knowledge_entries WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("entry_id")?, r.try_get("entry_key")?))).collect()
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn a_promotion_with_an_end_says_until_when_in_both_languages() {
        let mut p = Catalog::demo().products[0].clone();
        p.price = 299.0;
        p.promo_price = Some(199.0);
        p.promo_valid_until = Some("2026-11-12T00:00:00+08:00".into());
        let price = entries_of(&p).into_iter().find(|e| e.kind == "price").unwrap();
        assert!(price.answer.contains("199元") && price.answer.contains("活动到11月12日00:00"), "{}", price.answer);
        assert!(price.answer_en.unwrap().contains("until Nov 12, 00:00"));
        p.promo_valid_until = None;
        let price = entries_of(&p).into_iter().find(|e| e.kind == "price").unwrap();
        assert!(price.answer.contains("今天直播间到手价199元"), "{}", price.answer);
    }
}
