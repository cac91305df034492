//! Brand product knowledge in Postgres: import, the run of show, retrieval.
//!
//! Every product becomes a set of retrievable entries: its FAQ answers, and
//! entries made from its fields (price, stock, each attribute). Chinese is
//! segmented with jieba on write (`cut_for_search`) and on query (`cut`); the
//! words go through Postgres full-text search (`simple` configuration).

pub mod catalog;
pub mod text;

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
    for entry in entries_of(p) {
        sqlx::query(
            "INSERT INTO knowledge_entries (brand_id, product_id, kind, entry_key, questions, answer, answer_en, \
             search_terms, context_terms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .execute(&mut **tx)
        .await
        .with_context(|| format!("cannot write entry {}", entry.key))?;
    }
    Ok(())
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
        NewEntry {
            kind,
            key,
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
    out.push(make("price", format!("{}#price", p.id), vec![], PRICE_WORDS, answer, Some(answer_en)));
    let (answer, answer_en) = if p.stock > 0 {
        (
            format!("{}现在还有{}件现货，喜欢的抓紧拍。", p.name, p.stock),
            format!("The {name_en} has {} in stock right now.", p.stock),
        )
    } else {
        (format!("{}暂时卖完了，正在补货。", p.name), format!("The {name_en} is sold out for now; more is coming."))
    };
    out.push(make("stock", format!("{}#stock", p.id), vec![], STOCK_WORDS, answer, Some(answer_en)));
    for a in &p.attributes {
        let key_name = a.name_en.clone().unwrap_or_else(|| a.name.clone());
        let questions: Vec<String> = std::iter::once(a.name.clone()).chain(a.name_en.clone()).collect();
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

/// Full-text retrieval over a brand's entries, the product on stage first.
#[derive(Clone)]
pub struct Retriever {
    pool: PgPool,
}

/// Entries returned per query.
const TOP_K: i64 = 5;
/// Score multiplier for entries of the product on stage: a bare "多少钱"
/// means the product being presented, while a named other product
/// ("保温杯多少钱") matches more words and still wins.
const ON_STAGE_BOOST: f64 = 1.5;

impl Retriever {
    pub fn new(pool: PgPool) -> Retriever {
        Retriever { pool }
    }

    pub async fn retrieve(
        &self,
        brand_id: &str,
        product_on_stage: Option<&str>,
        question: &str,
    ) -> anyhow::Result<Vec<RetrievedEntry>> {
        let terms = text::query_terms(question);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let tsquery = text::or_tsquery(&terms);
        let rows = sqlx::query(
            "SELECT e.entry_id, e.product_id, p.name AS product_name, e.kind, e.answer, e.answer_en, \
             (ts_rank_cd(e.search_tsv, q) * CASE WHEN e.product_id = $3 THEN $4 ELSE 1.0 END)::float8 AS score, \
             (e.product_id IS NOT DISTINCT FROM $3) AS on_stage, \
             ARRAY(SELECT t FROM unnest($5::text[]) t WHERE e.search_tsv @@ to_tsquery('simple', quote_literal(t))) AS matched \
             FROM knowledge_entries e LEFT JOIN products p ON p.product_id = e.product_id, \
             to_tsquery('simple', $2) q \
             WHERE e.brand_id = $1 AND e.search_tsv @@ q \
             ORDER BY score DESC, e.entry_id LIMIT $6",
        )
        .bind(brand_id)
        .bind(&tsquery)
        .bind(product_on_stage)
        .bind(ON_STAGE_BOOST)
        .bind(&terms)
        .bind(TOP_K)
        .fetch_all(&self.pool)
        .await
        .context("knowledge retrieval failed")?;
        rows.iter()
            .map(|r| {
                let on_stage: bool = r.try_get("on_stage")?;
                let matched: Vec<String> = r.try_get("matched")?;
                Ok(RetrievedEntry {
                    entry_id: r.try_get("entry_id")?,
                    product_id: r.try_get("product_id")?,
                    product_name: r.try_get("product_name")?,
                    kind: r.try_get("kind")?,
                    answer: r.try_get("answer")?,
                    answer_en: r.try_get("answer_en")?,
                    score: r.try_get("score")?,
                    reason: format!(
                        "{} fts: {}",
                        if on_stage { "product_on_stage" } else { "brand" },
                        matched.join(" ")
                    ),
                })
            })
            .collect()
    }
}
