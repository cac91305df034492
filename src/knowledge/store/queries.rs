//! Every read of a brand's knowledge outside retrieval's own index: brands,
//! products, the run of show, a product with its entries at the current
//! version, entry keys and the version history.

use std::collections::HashMap;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

use super::StoreError;
use crate::events::StagedProduct;
use crate::knowledge::catalog::{Brand, Catalog, PitchSegment, Product};

/// Which entries are live at a version: an entry counts from its
/// `version_from` until (not including) its `version_to`, so a pinned
/// version sees exactly the entries it saw when it was current, and a closed
/// entry (an old price) never comes back. SQL over `knowledge_entries e`,
/// the brand bound as `$1` and the version as `$2`; every read of entries
/// follows this rule.
pub const LIVE_AT_VERSION: &str =
    "e.brand_id = $1 AND e.version_from <= $2 AND (e.version_to IS NULL OR e.version_to > $2)";

/// One page of a list, and how many items the whole list has.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// The brand's current knowledge version; `None` for a brand that never had one.
pub async fn current_version(pool: &PgPool, brand_id: &str) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT max(version) FROM knowledge_versions WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_one(pool)
        .await?)
}

/// Whether the brand exists and is not deleted.
pub async fn brand_exists(pool: &PgPool, brand_id: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM brands WHERE brand_id = $1 AND deleted_at IS NULL)")
        .bind(brand_id)
        .fetch_one(pool)
        .await?)
}

/// The brand's products in order, as the room stages them, and the brand's
/// current knowledge version.
pub async fn run_of_show(pool: &PgPool, brand_id: &str) -> anyhow::Result<(Vec<StagedProduct>, i64)> {
    let version = current_version(pool, brand_id).await?.with_context(|| format!("unknown brand {brand_id:?}"))?;
    let rows =
        sqlx::query("SELECT product_id, name, pitch FROM products WHERE brand_id = $1 ORDER BY position, product_id")
            .bind(brand_id)
            .fetch_all(pool)
            .await?;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        let pitch: sqlx::types::Json<Vec<PitchSegment>> = row.try_get("pitch")?;
        products.push(StagedProduct {
            product_id: row.try_get("product_id")?,
            name: row.try_get("name")?,
            segments: pitch.0.into_iter().map(|s| s.sentences).filter(|s| !s.is_empty()).collect(),
        });
    }
    Ok((products, version))
}

/// A product with the knowledge entries live at its brand's current version.
#[derive(Debug, Clone)]
pub struct ProductKnowledge {
    pub product_id: String,
    pub brand_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub pitch: Vec<PitchSegment>,
    /// The brand's knowledge version the entries are live at.
    pub version: i64,
    /// In entry id order.
    pub entries: Vec<LiveEntry>,
}

/// An entry as a product's knowledge lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEntry {
    pub entry_id: i64,
    /// `price`, `stock`, `attribute` or `faq` (`entries::EntryKind`).
    pub kind: String,
    pub answer: String,
    pub answer_en: Option<String>,
}

/// The product and its entries at its brand's current knowledge version (the
/// rule of `LIVE_AT_VERSION`: after a price change only the new price entry);
/// `None` if there is no such product.
pub async fn product_knowledge(pool: &PgPool, product_id: &str) -> anyhow::Result<Option<ProductKnowledge>> {
    let Some(row) = sqlx::query(
        "SELECT p.brand_id, p.name, p.name_en, p.pitch, \
         (SELECT COALESCE(max(v.version), 0) FROM knowledge_versions v WHERE v.brand_id = p.brand_id) AS version \
         FROM products p WHERE p.product_id = $1",
    )
    .bind(product_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let brand_id: String = row.try_get("brand_id")?;
    let version: i64 = row.try_get("version")?;
    let entries = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT e.entry_id, e.kind, e.answer, e.answer_en FROM knowledge_entries e \
         WHERE {LIVE_AT_VERSION} AND e.product_id = $3 ORDER BY e.entry_id"
    )))
    .bind(&brand_id)
    .bind(version)
    .bind(product_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(LiveEntry {
            entry_id: r.try_get("entry_id")?,
            kind: r.try_get("kind")?,
            answer: r.try_get("answer")?,
            answer_en: r.try_get("answer_en")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(ProductKnowledge {
        product_id: product_id.to_string(),
        brand_id,
        name: row.try_get("name")?,
        name_en: row.try_get("name_en")?,
        pitch: row.try_get::<sqlx::types::Json<_>, _>("pitch")?.0,
        version,
        entries,
    }))
}

/// Entry keys by id, for evaluation against labelled data.
pub async fn entry_keys(pool: &PgPool, brand_id: &str) -> anyhow::Result<HashMap<i64, String>> {
    let rows = sqlx::query("SELECT entry_id, entry_key FROM knowledge_entries WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("entry_id")?, r.try_get("entry_key")?))).collect()
}

const PRODUCT_COLUMNS: &str = "product_id, name, name_en, aliases, category, price::float8 AS price, \
    promo_price::float8 AS promo_price, to_char(promo_valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS vfrom, \
    to_char(promo_valid_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS vuntil, stock, attributes, pitch, faq";

fn product_of(r: &sqlx::postgres::PgRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: r.try_get("product_id")?,
        brand_id: None,
        name: r.try_get("name")?,
        name_en: r.try_get("name_en")?,
        aliases: r.try_get("aliases")?,
        category: r.try_get("category")?,
        price: r.try_get("price")?,
        promo_price: r.try_get("promo_price")?,
        promo_valid_from: r.try_get("vfrom")?,
        promo_valid_until: r.try_get("vuntil")?,
        stock: r.try_get("stock")?,
        attributes: r.try_get::<sqlx::types::Json<_>, _>("attributes")?.0,
        pitch: r.try_get::<sqlx::types::Json<_>, _>("pitch")?.0,
        faq: r.try_get::<sqlx::types::Json<_>, _>("faq")?.0,
    })
}

/// The brand's products among `ids`, by id (inside an edit's transaction).
pub(super) async fn products_by_id(
    conn: &mut PgConnection,
    brand_id: &str,
    ids: &[String],
) -> Result<HashMap<String, Product>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE brand_id = $1 AND product_id = ANY($2)"
    )))
    .bind(brand_id)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut out = HashMap::new();
    for r in &rows {
        let p = product_of(r)?;
        out.insert(p.id.clone(), p);
    }
    Ok(out)
}

/// A brand as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BrandInfo {
    #[serde(flatten)]
    pub brand: Brand,
    pub knowledge_version: i64,
    pub products: i64,
}

pub async fn get_brand(pool: &PgPool, brand_id: &str) -> Result<BrandInfo, StoreError> {
    list_brands_where(pool, Some(brand_id), 1, 0)
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound("brand", brand_id.into()))
}

/// A page of the brands in id order (`only` restricts to one).
pub async fn list_brands_where(
    pool: &PgPool,
    only: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<BrandInfo>, StoreError> {
    let rows = sqlx::query(
        "SELECT b.brand_id, b.name, b.name_en, b.forbidden_claims, count(*) OVER () AS total, \
         (SELECT COALESCE(max(version), 0) FROM knowledge_versions v WHERE v.brand_id = b.brand_id) AS version, \
         (SELECT count(*) FROM products p WHERE p.brand_id = b.brand_id) AS products \
         FROM brands b WHERE b.deleted_at IS NULL AND ($1::text IS NULL OR b.brand_id = $1) \
         ORDER BY b.brand_id LIMIT $2 OFFSET $3",
    )
    .bind(only)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let mut total = 0;
    let mut items = Vec::new();
    for r in &rows {
        total = r.try_get("total")?;
        items.push(BrandInfo {
            brand: Brand {
                id: r.try_get("brand_id")?,
                name: r.try_get("name")?,
                name_en: r.try_get("name_en")?,
                forbidden_claims: r.try_get::<sqlx::types::Json<_>, _>("forbidden_claims")?.0,
            },
            knowledge_version: r.try_get("version")?,
            products: r.try_get("products")?,
        });
    }
    if items.is_empty() && offset > 0 {
        total = sqlx::query_scalar(
            "SELECT count(*) FROM brands WHERE deleted_at IS NULL AND ($1::text IS NULL OR brand_id = $1)",
        )
        .bind(only)
        .fetch_one(pool)
        .await?;
    }
    Ok(Page { items, total })
}

pub async fn get_product(pool: &PgPool, brand_id: &str, product_id: &str) -> Result<Product, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE brand_id = $1 AND product_id = $2"
    )))
    .bind(brand_id)
    .bind(product_id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok(product_of(&r)?),
        None => Err(StoreError::NotFound("product", product_id.into())),
    }
}

/// A page of the brand's products in run-of-show order.
pub async fn list_products(
    pool: &PgPool,
    brand_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Page<Product>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS}, count(*) OVER () AS total FROM products WHERE brand_id = $1 \
         ORDER BY position, product_id LIMIT $2 OFFSET $3"
    )))
    .bind(brand_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let mut total = rows.first().map(|r| r.try_get("total")).transpose()?.unwrap_or(0);
    if rows.is_empty() && offset > 0 {
        total = sqlx::query_scalar("SELECT count(*) FROM products WHERE brand_id = $1")
            .bind(brand_id)
            .fetch_one(pool)
            .await?;
    }
    Ok(Page { items: rows.iter().map(product_of).collect::<Result<_, _>>()?, total })
}

/// The brand's whole catalogue, in the import shape.
pub async fn export(pool: &PgPool, brand_id: &str) -> Result<Catalog, StoreError> {
    let info = get_brand(pool, brand_id).await?;
    let products = list_products(pool, brand_id, i64::MAX, 0).await?.items;
    Ok(Catalog { brand: Some(info.brand), brands: Vec::new(), products })
}

/// One recorded version of a brand's knowledge.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRecord {
    pub version: i64,
    pub changed_by: String,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    pub summary: String,
    pub changes: Value,
}

/// A page of the brand's versions, newest first.
pub async fn versions(
    pool: &PgPool,
    brand_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Page<VersionRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT version, changed_by, changed_at, summary, changes, count(*) OVER () AS total FROM knowledge_versions \
         WHERE brand_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
    )
    .bind(brand_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = rows.first().map(|r| r.try_get("total")).transpose()?.unwrap_or(0);
    let items = rows
        .iter()
        .map(|r| {
            Ok(VersionRecord {
                version: r.try_get("version")?,
                changed_by: r.try_get("changed_by")?,
                changed_at: r.try_get("changed_at")?,
                summary: r.try_get("summary")?,
                changes: r.try_get("changes")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Page { items, total })
}
