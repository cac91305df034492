//! The transaction of an edit: lock the brand, take its next version, ask
//! `validate` what the edit does, close the old entries, write the products,
//! their entries and vectors, and the audit record. And a brand's deletion.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Row};

use super::validate::{self, BrandRow, PositionedProduct, ProductsBefore};
use super::{Edit, StoreError, queries};
use crate::knowledge::catalog::Brand;
use crate::knowledge::entries::{self, NewEntry};

/// Apply `edit` to `brand_id` in one transaction as `actor`; returns the new
/// knowledge version.
pub async fn apply(pool: &PgPool, brand_id: &str, actor: &str, edit: Edit) -> Result<i64, StoreError> {
    let problems = validate::problems_of(brand_id, &edit);
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }

    let mut tx = pool.begin().await.context("cannot begin")?;
    let mut changes = Vec::new();
    // The brand row lock serialises the brand's versions.
    let current = lock_brand(&mut tx, brand_id).await?;
    validate::check_brand(brand_id, current.as_ref(), &edit)?;
    if let Some(b) = &edit.brand {
        let claims = serde_json::to_value(validate::with_claim_ids(&b.forbidden_claims)).context("claims")?;
        upsert_brand(&mut tx, brand_id, b, &claims).await?;
        changes.extend(validate::brand_change(brand_id, current.as_ref(), b, &claims));
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
    let deletes = validate::products_to_delete(&edit, &existing)?;
    // a product id is global: one brand cannot take over another's
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT product_id FROM products WHERE product_id = ANY($1) AND brand_id <> $2 ORDER BY product_id LIMIT 1",
    )
    .bind(edit.upserts.iter().map(|p| p.id.clone()).collect::<Vec<_>>())
    .bind(brand_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(product_id) = taken {
        return Err(StoreError::Conflict(format!("product id {product_id:?} belongs to another brand")));
    }
    validate::check_create_only(&edit, &existing)?;
    let touched: Vec<String> = edit.upserts.iter().map(|p| p.id.clone()).chain(deletes.iter().cloned()).collect();
    let products = queries::products_by_id(&mut tx, brand_id, &touched).await?;
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
    let before = ProductsBefore { products: &products, positions: &positions, max_position };
    let plan = validate::plan_products(&edit, &deletes, &before);
    changes.extend(plan.changes);
    // close the entries of every changed or deleted product
    let closing: Vec<String> =
        plan.writes.iter().map(|w| w.product.id.clone()).chain(deletes.iter().cloned()).collect();
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
    for chunk in plan.writes.chunks(500) {
        write_products(&mut tx, brand_id, version, chunk).await?;
    }
    let summary = if edit.summary.is_empty() { validate::summarise(&changes) } else { edit.summary.clone() };
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
    if plan.writes.len() >= 200 {
        sqlx::query("ANALYZE knowledge_entries").execute(pool).await.context("analyze")?;
    }
    Ok(version)
}

/// The brand's row, locked for the rest of the transaction.
async fn lock_brand(conn: &mut PgConnection, brand_id: &str) -> Result<Option<BrandRow>, StoreError> {
    let row = sqlx::query(
        "SELECT name, name_en, forbidden_claims, deleted_at IS NOT NULL AS deleted FROM brands WHERE brand_id = $1 FOR UPDATE",
    )
    .bind(brand_id)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(BrandRow {
        name: r.try_get("name")?,
        name_en: r.try_get("name_en")?,
        forbidden_claims: r.try_get("forbidden_claims")?,
        deleted: r.try_get("deleted")?,
    }))
}

async fn upsert_brand(conn: &mut PgConnection, brand_id: &str, b: &Brand, claims: &Value) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO brands (brand_id, name, name_en, forbidden_claims) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (brand_id) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en, \
         forbidden_claims = EXCLUDED.forbidden_claims",
    )
    .bind(brand_id)
    .bind(&b.name)
    .bind(&b.name_en)
    .bind(claims)
    .execute(conn)
    .await?;
    Ok(())
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

/// An entry to insert, with the product it belongs to.
struct EntryRow {
    product_id: String,
    product_name: String,
    /// The product's name, English name and aliases, joined by `join_list`.
    product_names: String,
    entry: NewEntry,
}

/// Upsert product rows and insert their entries (and vectors) at `version`.
async fn write_products(
    conn: &mut PgConnection,
    brand_id: &str,
    version: i64,
    products: &[PositionedProduct],
) -> Result<(), StoreError> {
    let mut c = ProductColumns::default();
    for PositionedProduct { position, product: p } in products {
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
    .execute(&mut *conn)
    .await?;

    let mut rows = Vec::new();
    for PositionedProduct { product: p, .. } in products {
        let names: Vec<String> =
            std::iter::once(p.name.clone()).chain(p.name_en.clone()).chain(p.aliases.iter().cloned()).collect();
        for entry in entries::entries_of(p) {
            rows.push(EntryRow {
                product_id: p.id.clone(),
                product_name: p.name.clone(),
                product_names: join_list(&names),
                entry,
            });
        }
    }
    let texts: Vec<&str> = rows.iter().flat_map(|r| r.entry.embed_texts.iter().map(String::as_str)).collect();
    let vectors = entries::embed_texts(&texts).await;
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
    .bind(rows.iter().map(|r| r.product_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.product_name.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.product_names.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.kind.as_str().to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.key.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| join_list(&r.entry.questions)).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.answer.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.answer_en.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.search_terms.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.entry.context_terms.clone()).collect::<Vec<_>>())
    .bind(version)
    .fetch_all(&mut *conn)
    .await?;
    if ids.len() != rows.len() {
        return Err(StoreError::Db(anyhow::anyhow!(
            "entry insert returned {} ids for {} entries",
            ids.len(),
            rows.len()
        )));
    }
    // RETURNING follows the insert order of the ORDER BY; map keys to ids to be sure
    let keys: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT entry_id, entry_key FROM knowledge_entries WHERE entry_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
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
    for EntryRow { entry, .. } in &rows {
        let entry_id = *id_of.get(entry.key.as_str()).context("entry id")?;
        for (ordinal, t) in entry.embed_texts.iter().enumerate() {
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
        .bind(entries::EMBEDDING_MODEL)
        .bind(&v_flat[start * crate::embed::DIM..end * crate::embed::DIM])
        .bind(crate::embed::DIM as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Lists travel through SQL as one string joined by U+001F (unit separator).
fn join_list(xs: &[String]) -> String {
    xs.iter().map(|x| x.replace('\u{1f}', " ")).collect::<Vec<_>>().join("\u{1f}")
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
    crate::auth::store::revoke_brand_keys(&mut tx, brand_id).await?;
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
