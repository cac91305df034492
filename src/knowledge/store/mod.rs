//! Writing and reading a brand's knowledge: brands, products (with FAQ and
//! selling points), forbidden claims. Every change is one transaction that
//! takes the brand's next knowledge version, records who changed what, and
//! rebuilds the derived entries of the touched products: old entries are
//! closed at that version, never rewritten, so retrieval at a pinned version
//! sees exactly what it saw when the version was current.
//!
//! - `validate`: what an edit may do and the problems it reports (pure).
//! - `tx`: the transaction of an edit, and of a brand's deletion.
//! - `queries`: every read of brands, products, entries and versions.

mod queries;
mod tx;
mod validate;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::catalog::{Brand, Catalog, Problem, Product};
pub use queries::{
    BrandInfo, LIVE_AT_VERSION, LiveEntry, Page, ProductKnowledge, VersionRecord, brand_exists, current_version,
    entry_keys, export, get_brand, get_product, list_brands_where, list_products, product_knowledge, run_of_show,
    versions,
};
pub use tx::{apply, delete_brand};

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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `create`, `update` or `delete`.
    pub op: &'static str,
    /// `brand` or `product`.
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

/// The knowledge version an import gave one brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedVersion {
    pub brand_id: String,
    pub version: i64,
}

/// Apply a whole catalogue atomically per brand: brands are created or
/// updated, the listed products created or replaced (others are kept), and
/// each touched brand's knowledge version bumped. Returns the new versions.
pub async fn import_catalog(
    pool: &PgPool,
    catalog: &Catalog,
    changed_by: &str,
) -> anyhow::Result<Vec<ImportedVersion>> {
    let problems = catalog.validate();
    if !problems.is_empty() {
        anyhow::bail!("invalid catalogue: {}", list_problems(&problems));
    }
    let brands = catalog.all_brands();
    let mut versions = Vec::new();
    for b in &brands {
        let products: Vec<Product> = catalog
            .products
            .iter()
            .filter(|p| p.brand_id.as_deref().unwrap_or(&brands[0].id) == b.id)
            .cloned()
            .collect();
        let edit = Edit {
            brand: Some((*b).clone()),
            summary: format!("import of {} products", products.len()),
            upserts: products,
            ..Default::default()
        };
        let version = apply(pool, &b.id, changed_by, edit).await.map_err(|e| match e {
            StoreError::Invalid(p) => anyhow::anyhow!("invalid catalogue: {}", list_problems(&p)),
            e => anyhow::Error::from(e),
        })?;
        versions.push(ImportedVersion { brand_id: b.id.clone(), version });
    }
    Ok(versions)
}

fn list_problems(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
