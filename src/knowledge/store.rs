//! Writing and reading a brand's knowledge: brands, products (with FAQ and
//! selling points), forbidden claims. Every change is one transaction that
//! takes the brand's next knowledge version, records who changed what, and
//! rebuilds the derived entries of the touched products: old entries are
//! closed at that version, never rewritten, so retrieval at a pinned version
//! sees exactly what it saw when the version was current.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::catalog::{Brand, Catalog, Problem, Product};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} {1:?} not found")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid knowledge: {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(format!("already exists ({})", db.message()));
        }
        StoreError::Db(e.into())
    }
}

/// One change, for the audit record of a version.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub op: &'static str,
    pub kind: &'static str,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// What one version does to a brand.
#[derive(Debug, Default)]
pub struct Edit {
    /// Create the brand (it must not exist) or update its fields.
    pub brand: Option<Brand>,
    pub create_brand: bool,
    /// Products to create or replace whole.
    pub upserts: Vec<Product>,
    /// Products to delete.
    pub deletes: Vec<String>,
    /// Delete every product of the brand that `upserts` does not name.
    pub replace_all: bool,
    /// Only create: a product in `upserts` that exists already is a conflict.
    pub create_only: bool,
    pub summary: String,
}

/// Apply `edit` to `brand_id` in one transaction as `actor`; returns the new
/// knowledge version.
pub async fn apply(pool: &PgPool, brand_id: &str, actor: &str, edit: Edit) -> Result<i64, StoreError> {
    let mut problems: Vec<Problem> = Vec::new();
    if let Some(b) = &edit.brand {
        problems.extend(b.validate());
    }
    let mut seen = HashSet::new();
    let mut faq_ids = HashSet::new();
    for (i, p) in edit.upserts.iter().enumerate() {
        let mut found = p.validate();
        if !seen.insert(p.id.as_str()) {
            found.push(Problem::of(p, "id", "duplicate product id"));
        }
        for f in p.faq.iter().filter_map(|f| f.id.as_deref()) {
            if !faq_ids.insert(f) {
                found.push(Problem::of(p, "faq.id", &format!("duplicate FAQ id {f:?}")));
            }
        }
        if p.brand_id.as_deref().is_some_and(|b| b != brand_id) {
            found.push(Problem::of(
                p,
                "brand_id",
                &format!("names brand {:?}, not {brand_id:?}", p.brand_id.as_deref().unwrap_or("")),
            ));
        }
        problems.extend(found.into_iter().map(|mut x| {
            x.row = Some(i);
            x
        }));
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }

    let mut tx = pool.begin().await.context("cannot begin")?;
    let mut changes = Vec::new();
    // The brand row lock serialises the brand's versions.
    let current: Option<(String, Option<String>, Value, bool)> = sqlx::query(
        "SELECT name, name_en, forbidden_claims, deleted_at IS NOT NULL AS deleted FROM brands WHERE brand_id = $1 FOR UPDATE",
    )
    .bind(brand_id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
    .transpose()?;
    match (&current, edit.create_brand) {
        (Some(_), true) => return Err(StoreError::Conflict(format!("brand {brand_id:?} exists already"))),
        (None, false) if edit.brand.is_none() => return Err(StoreError::NotFound("brand", brand_id.into())),
        (Some((.., true)), _) => return Err(StoreError::NotFound("brand", brand_id.into())),
        _ => {}
    }
    if let Some(b) = &edit.brand {
        let claims = serde_json::to_value(with_claim_ids(&b.forbidden_claims)).context("claims")?;
        sqlx::query(
            "INSERT INTO brands (brand_id, name, name_en, forbidden_claims) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (brand_id) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en, \
             forbidden_claims = EXCLUDED.forbidden_claims",
        )
        .bind(brand_id)
        .bind(&b.name)
        .bind(&b.name_en)
        .bind(&claims)
        .execute(&mut *tx)
        .await?;
        let before = current
            .as_ref()
            .map(|(name, name_en, claims, _)| json!({"name": name, "name_en": name_en, "forbidden_claims": claims}));
        let after = json!({"name": b.name, "name_en": b.name_en, "forbidden_claims": claims});
        if before.as_ref() != Some(&after) {
            let op = if current.is_some() { "update" } else { "create" };
            changes.push(Change { op, kind: "brand", id: brand_id.into(), before, after: Some(after) });
        }
    }
    let version: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) + 1 FROM knowledge_versions WHERE brand_id = $1")
            .bind(brand_id)
            .fetch_one(&mut *tx)
            .await?;

    // products: what exists now
    let existing: Vec<String> = sqlx::query_scalar("SELECT product_id FROM products WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_all(&mut *tx)
        .await?;
    let existing: HashSet<String> = existing.into_iter().collect();
    let mut deletes: Vec<String> = edit.deletes.clone();
    if edit.replace_all {
        let keep: HashSet<&str> = edit.upserts.iter().map(|p| p.id.as_str()).collect();
        deletes.extend(existing.iter().filter(|id| !keep.contains(id.as_str())).cloned());
    }
    for id in &deletes {
        if !existing.contains(id) {
            return Err(StoreError::NotFound("product", id.clone()));
        }
    }
    // a product id is global: one brand cannot take over another's
    let taken: Vec<(String, String)> =
        sqlx::query_as("SELECT product_id, brand_id FROM products WHERE product_id = ANY($1) AND brand_id <> $2")
            .bind(edit.upserts.iter().map(|p| p.id.clone()).collect::<Vec<_>>())
            .bind(brand_id)
            .fetch_all(&mut *tx)
            .await?;
    if let Some((pid, _)) = taken.first() {
        return Err(StoreError::Conflict(format!("product id {pid:?} belongs to another brand")));
    }
    if edit.create_only
        && let Some(p) = edit.upserts.iter().find(|p| existing.contains(&p.id))
    {
        return Err(StoreError::Conflict(format!("product {:?} exists already", p.id)));
    }
    let touched: Vec<String> = edit.upserts.iter().map(|p| p.id.clone()).chain(deletes.iter().cloned()).collect();
    let before = load_products_tx(&mut tx, brand_id, &touched).await?;
    // positions: new products go to the end of the run of show
    let max_position: i32 = sqlx::query_scalar("SELECT COALESCE(max(position), -1) FROM products WHERE brand_id = $1")
        .bind(brand_id)
        .fetch_one(&mut *tx)
        .await?;
    let positions: HashMap<String, i32> = sqlx::query_as::<_, (String, i32)>(
        "SELECT product_id, position FROM products WHERE brand_id = $1 AND product_id = ANY($2)",
    )
    .bind(brand_id)
    .bind(&touched)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut next_position = max_position + 1;
    let mut changed_products = Vec::new();
    for (i, p) in edit.upserts.iter().enumerate() {
        let mut p = p.clone();
        p.brand_id = None;
        let prior = before.get(&p.id);
        if prior == Some(&p) {
            continue; // unchanged: no new entries
        }
        let position = if edit.replace_all {
            i as i32
        } else {
            positions.get(&p.id).copied().unwrap_or_else(|| {
                next_position += 1;
                next_position - 1
            })
        };
        changes.push(Change {
            op: if prior.is_some() { "update" } else { "create" },
            kind: "product",
            id: p.id.clone(),
            before: prior.map(|x| serde_json::to_value(x).unwrap_or_default()),
            after: Some(serde_json::to_value(&p).unwrap_or_default()),
        });
        changed_products.push((position, p));
    }
    for id in &deletes {
        changes.push(Change {
            op: "delete",
            kind: "product",
            id: id.clone(),
            before: before.get(id).map(|x| serde_json::to_value(x).unwrap_or_default()),
            after: None,
        });
    }
    // close the entries of every changed or deleted product
    let closing: Vec<String> =
        changed_products.iter().map(|(_, p)| p.id.clone()).chain(deletes.iter().cloned()).collect();
    sqlx::query("UPDATE knowledge_entries SET version_to = $3 WHERE brand_id = $1 AND product_id = ANY($2) AND version_to IS NULL")
        .bind(brand_id)
        .bind(&closing)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM products WHERE brand_id = $1 AND product_id = ANY($2)")
        .bind(brand_id)
        .bind(&deletes)
        .execute(&mut *tx)
        .await?;
    for chunk in changed_products.chunks(500) {
        write_products(&mut tx, brand_id, version, chunk).await?;
    }
    let summary = if edit.summary.is_empty() { summarise(&changes) } else { edit.summary.clone() };
    sqlx::query(
        "INSERT INTO knowledge_versions (brand_id, version, changed_by, summary, changes) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(brand_id)
    .bind(version)
    .bind(actor)
    .bind(&summary)
    .bind(serde_json::to_value(&changes).context("changes")?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.context("cannot commit")?;
    // a large import changes the tables' statistics: plan retrieval with fresh ones
    if changed_products.len() >= 200 {
        sqlx::query("ANALYZE knowledge_entries").execute(pool).await.context("analyze")?;
    }
    Ok(version)
}

fn summarise(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change".into();
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in changes {
        let k = format!("{} {}", c.op, c.kind);
        match counts.iter_mut().find(|(x, _)| *x == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
    }
    counts.into_iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
}

/// Claims get stable ids (`claim-1`, ...) where the brand gave none.
fn with_claim_ids(claims: &[super::catalog::ForbiddenClaim]) -> Vec<super::catalog::ForbiddenClaim> {
    let mut used: HashSet<String> = claims.iter().filter_map(|c| c.id.clone()).collect();
    let mut n = 0;
    claims
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.id.is_none() {
                loop {
                    n += 1;
                    let id = format!("claim-{n}");
                    if used.insert(id.clone()) {
                        c.id = Some(id);
                        break;
                    }
                }
            }
            c
        })
        .collect()
}

/// The product rows of one upsert, a column each (bound as arrays to `unnest`).
#[derive(Default)]
struct ProductColumns {
    id: Vec<String>,
    position: Vec<i32>,
    name: Vec<String>,
    name_en: Vec<Option<String>>,
    aliases: Vec<String>,
    category: Vec<String>,
    price: Vec<f64>,
    promo_price: Vec<Option<f64>>,
    promo_valid_from: Vec<Option<String>>,
    promo_valid_until: Vec<Option<String>>,
    stock: Vec<i32>,
    attributes: Vec<Value>,
    pitch: Vec<Value>,
    faq: Vec<Value>,
}

/// Upsert product rows and insert their entries (and vectors) at `version`.
async fn write_products(
    tx: &mut Transaction<'_, Postgres>,
    brand_id: &str,
    version: i64,
    products: &[(i32, Product)],
) -> Result<(), StoreError> {
    let mut c = ProductColumns::default();
    for (position, p) in products {
        c.id.push(p.id.clone());
        c.position.push(*position);
        c.name.push(p.name.clone());
        c.name_en.push(p.name_en.clone());
        c.aliases.push(join_list(&p.aliases));
        c.category.push(p.category.clone());
        c.price.push(p.price);
        c.promo_price.push(p.promo_price);
        c.promo_valid_from.push(p.promo_valid_from.clone());
        c.promo_valid_until.push(p.promo_valid_until.clone());
        c.stock.push(p.stock);
        c.attributes.push(serde_json::to_value(&p.attributes).context("attributes")?);
        c.pitch.push(serde_json::to_value(&p.pitch).context("pitch")?);
        c.faq.push(serde_json::to_value(&p.faq).context("faq")?);
    }
    sqlx::query(
        "INSERT INTO products (product_id, brand_id, position, name, name_en, aliases, category, price, promo_price, \
         promo_valid_from, promo_valid_until, stock, attributes, pitch, faq) \
         SELECT id, $1, pos, name, name_en, string_to_array(aliases, chr(31)), category, price::numeric, promo::numeric, \
         vfrom::timestamptz, vuntil::timestamptz, stock, attributes, pitch, faq \
         FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[], \
                     $10::text[], $11::text[], $12::int[], $13::jsonb[], $14::jsonb[], $15::jsonb[]) \
              AS t(id, pos, name, name_en, aliases, category, price, promo, vfrom, vuntil, stock, attributes, pitch, faq) \
         ON CONFLICT (product_id) DO UPDATE SET position = EXCLUDED.position, name = EXCLUDED.name, \
         name_en = EXCLUDED.name_en, aliases = EXCLUDED.aliases, category = EXCLUDED.category, price = EXCLUDED.price, \
         promo_price = EXCLUDED.promo_price, promo_valid_from = EXCLUDED.promo_valid_from, \
         promo_valid_until = EXCLUDED.promo_valid_until, stock = EXCLUDED.stock, attributes = EXCLUDED.attributes, \
         pitch = EXCLUDED.pitch, faq = EXCLUDED.faq",
    )
    .bind(brand_id)
    .bind(&c.id)
    .bind(&c.position)
    .bind(&c.name)
    .bind(&c.name_en)
    .bind(&c.aliases)
    .bind(&c.category)
    .bind(&c.price)
    .bind(&c.promo_price)
    .bind(&c.promo_valid_from)
    .bind(&c.promo_valid_until)
    .bind(&c.stock)
    .bind(&c.attributes)
    .bind(&c.pitch)
    .bind(&c.faq)
    .execute(&mut **tx)
    .await?;

    let mut entries = Vec::new();
    for (_, p) in products {
        let names: Vec<String> =
            std::iter::once(p.name.clone()).chain(p.name_en.clone()).chain(p.aliases.iter().cloned()).collect();
        for e in super::entries_of(p) {
            entries.push((p.id.clone(), p.name.clone(), join_list(&names), e));
        }
    }
    let texts: Vec<&str> = entries.iter().flat_map(|(.., e)| e.embed_texts.iter().map(String::as_str)).collect();
    let vectors = super::embed_texts(&texts).await;
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO knowledge_entries (brand_id, product_id, product_name, product_names, kind, entry_key, questions, \
         answer, answer_en, search_terms, context_terms, version_from) \
         SELECT $1, pid, pname, string_to_array(pnames, chr(31)), kind, key, string_to_array(questions, chr(31)), \
         answer, answer_en, search_terms, context_terms, $12 \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
                     $10::text[], $11::text[]) WITH ORDINALITY \
              AS t(pid, pname, pnames, kind, key, questions, answer, answer_en, search_terms, context_terms, n) \
         ORDER BY n RETURNING entry_id",
    )
    .bind(brand_id)
    .bind(entries.iter().map(|e| e.0.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.1.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.2.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.kind.to_string()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.key.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| join_list(&e.3.questions)).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.answer.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.answer_en.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.search_terms.clone()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.3.context_terms.clone()).collect::<Vec<_>>())
    .bind(version)
    .fetch_all(&mut **tx)
    .await?;
    if ids.len() != entries.len() {
        return Err(StoreError::Db(anyhow::anyhow!(
            "entry insert returned {} ids for {} entries",
            ids.len(),
            entries.len()
        )));
    }
    // RETURNING follows the insert order of the ORDER BY; map keys to ids to be sure
    let keys: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT entry_id, entry_key FROM knowledge_entries WHERE entry_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let id_of: HashMap<&str, i64> = keys.iter().map(|(id, k)| (k.as_str(), *id)).collect();
    let Some(vectors) = vectors else { return Ok(()) };
    let mut v_entry = Vec::new();
    let mut v_ordinal = Vec::new();
    let mut v_source = Vec::new();
    let mut v_flat: Vec<f32> = Vec::new();
    let mut next = 0;
    for (.., e) in &entries {
        let entry_id = *id_of.get(e.key.as_str()).context("entry id")?;
        for (ordinal, t) in e.embed_texts.iter().enumerate() {
            if let Some(v) = &vectors[next] {
                v_entry.push(entry_id);
                v_ordinal.push(ordinal as i32);
                v_source.push(t.clone());
                v_flat.extend_from_slice(v);
            }
            next += 1;
        }
    }
    for start in (0..v_entry.len()).step_by(2000) {
        let end = (start + 2000).min(v_entry.len());
        sqlx::query(
            "INSERT INTO knowledge_vectors (entry_id, ordinal, model, source, vector) \
             SELECT e, o, $4, s, ($5::real[])[(n - 1) * $6 + 1 : n * $6] \
             FROM unnest($1::bigint[], $2::int[], $3::text[]) WITH ORDINALITY AS t(e, o, s, n)",
        )
        .bind(&v_entry[start..end])
        .bind(&v_ordinal[start..end])
        .bind(&v_source[start..end])
        .bind(super::EMBEDDING_MODEL)
        .bind(&v_flat[start * crate::embed::DIM..end * crate::embed::DIM])
        .bind(crate::embed::DIM as i32)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Lists travel through SQL as one string joined by U+001F (unit separator).
fn join_list(xs: &[String]) -> String {
    xs.iter().map(|x| x.replace('\u{1f}', " ")).collect::<Vec<_>>().join("\u{1f}")
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

async fn load_products_tx(
    tx: &mut Transaction<'_, Postgres>,
    brand_id: &str,
    ids: &[String],
) -> Result<HashMap<String, Product>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE brand_id = $1 AND product_id = ANY($2)"
    )))
    .bind(brand_id)
    .bind(ids)
    .fetch_all(&mut **tx)
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
        .0
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound("brand", brand_id.into()))
}

/// Brands in id order (`only` restricts to one), with the total count.
pub async fn list_brands_where(
    pool: &PgPool,
    only: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<BrandInfo>, i64), StoreError> {
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
    let mut out = Vec::new();
    for r in &rows {
        total = r.try_get("total")?;
        out.push(BrandInfo {
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
    if out.is_empty() && offset > 0 {
        total = sqlx::query_scalar(
            "SELECT count(*) FROM brands WHERE deleted_at IS NULL AND ($1::text IS NULL OR brand_id = $1)",
        )
        .bind(only)
        .fetch_one(pool)
        .await?;
    }
    Ok((out, total))
}

/// Mark a brand deleted: it disappears from the API, opens no new rooms, and
/// its keys stop working. Its log and versions stay for analysis.
pub async fn delete_brand(pool: &PgPool, brand_id: &str, actor: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.context("cannot begin")?;
    let done = sqlx::query("UPDATE brands SET deleted_at = now() WHERE brand_id = $1 AND deleted_at IS NULL")
        .bind(brand_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("brand", brand_id.into()));
    }
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE brand_id = $1 AND revoked_at IS NULL")
        .bind(brand_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO knowledge_versions (brand_id, version, changed_by, summary, changes) \
         SELECT $1, COALESCE(max(version), 0) + 1, $2, 'delete brand', $3 FROM knowledge_versions WHERE brand_id = $1",
    )
    .bind(brand_id)
    .bind(actor)
    .bind(json!([{"op": "delete", "kind": "brand", "id": brand_id}]))
    .execute(&mut *tx)
    .await?;
    tx.commit().await.context("cannot commit")?;
    Ok(())
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

/// A page of the brand's products in run-of-show order, and the total.
pub async fn list_products(
    pool: &PgPool,
    brand_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Product>, i64), StoreError> {
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
    Ok((rows.iter().map(product_of).collect::<Result<_, _>>()?, total))
}

/// The brand's whole catalogue, in the import shape.
pub async fn export(pool: &PgPool, brand_id: &str) -> Result<Catalog, StoreError> {
    let info = get_brand(pool, brand_id).await?;
    let (products, _) = list_products(pool, brand_id, i64::MAX, 0).await?;
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

/// Newest first.
pub async fn versions(
    pool: &PgPool,
    brand_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<VersionRecord>, i64), StoreError> {
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
    let out = rows
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
    Ok((out, total))
}
