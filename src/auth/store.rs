//! All SQL on `api_keys`.

use anyhow::Context;
use sqlx::{PgConnection, PgPool, Row};

use super::{KeyInfo, Role};

/// A live key as stored, for checking a presented secret.
#[derive(Debug, Clone)]
pub(super) struct StoredKey {
    pub(super) brand_id: String,
    pub(super) role: String,
    pub(super) secret_hash: Vec<u8>,
}

/// Store a new key; returns when it was created.
pub(super) async fn insert_key(
    pool: &PgPool,
    key_id: &str,
    brand_id: &str,
    role: Role,
    secret_hash: &[u8],
    label: &str,
    created_by: &str,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let row = sqlx::query(
        "INSERT INTO api_keys (key_id, brand_id, role, secret_hash, label, created_by) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING created_at",
    )
    .bind(key_id)
    .bind(brand_id)
    .bind(role.as_str())
    .bind(secret_hash)
    .bind(label)
    .bind(created_by)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("created_at")?)
}

/// The key `key_id` if it is live: not revoked, of a brand not deleted.
pub(super) async fn live_key(pool: &PgPool, key_id: &str) -> anyhow::Result<Option<StoredKey>> {
    let row = sqlx::query(
        "SELECT k.brand_id, k.role, k.secret_hash FROM api_keys k JOIN brands b ON b.brand_id = k.brand_id \
         WHERE k.key_id = $1 AND k.revoked_at IS NULL AND b.deleted_at IS NULL",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredKey {
        brand_id: row.try_get("brand_id")?,
        role: row.try_get("role")?,
        secret_hash: row.try_get("secret_hash")?,
    }))
}

/// The brand's keys, revoked ones included, oldest first.
pub(super) async fn keys_of_brand(pool: &PgPool, brand_id: &str) -> anyhow::Result<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT key_id, brand_id, role, label, created_by, created_at, revoked_at FROM api_keys WHERE brand_id = $1 \
         ORDER BY created_at, key_id",
    )
    .bind(brand_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let key_id: String = r.try_get("key_id")?;
            let role: String = r.try_get("role")?;
            // the table's CHECK allows only the three roles
            let role = Role::parse(&role).with_context(|| format!("key {key_id} has an unknown role {role:?}"))?;
            Ok(KeyInfo {
                key_id,
                brand_id: r.try_get("brand_id")?,
                role,
                label: r.try_get("label")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Revoke a live key of `brand_id`; false when it has no such live key.
pub(super) async fn revoke_key(pool: &PgPool, brand_id: &str, key_id: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE brand_id = $1 AND key_id = $2 AND revoked_at IS NULL",
    )
    .bind(brand_id)
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revoke every live key of `brand_id`, inside the caller's transaction (a
/// brand's deletion).
pub(crate) async fn revoke_brand_keys(conn: &mut PgConnection, brand_id: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE brand_id = $1 AND revoked_at IS NULL")
        .bind(brand_id)
        .execute(conn)
        .await?;
    Ok(())
}
