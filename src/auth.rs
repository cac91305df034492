//! API keys. Every brand has its own keys, each with one role:
//! - `editor`: reads and writes the brand's knowledge and manages its keys;
//! - `operator`: reads the brand's knowledge (runs the brand's rooms);
//! - `analyst`: reads the brand's knowledge and its version history.
//!
//! A key reads `lrk_<key_id>_<secret>`; only the SHA-256 of the secret is
//! stored (the secret is 32 random bytes, so a fast hash is enough). The node's
//! admin token (`LIVEROOM_ADMIN_TOKEN`) creates and deletes brands.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Editor,
    Operator,
    Analyst,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Operator => "operator",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "editor" => Some(Role::Editor),
            "operator" => Some(Role::Operator),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Key { key_id: String, brand_id: String, role: Role },
}

impl Principal {
    /// How the audit record names this caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin => "admin".into(),
            Principal::Key { key_id, role, .. } => format!("key:{key_id} ({})", role.as_str()),
        }
    }
}

/// A key as listed (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub brand_id: String,
    pub role: Role,
    pub label: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new key: the only time its full text is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    #[serde(flatten)]
    pub info: KeyInfo,
    pub key: String,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn create_key(
    pool: &PgPool,
    brand_id: &str,
    role: Role,
    label: &str,
    created_by: &str,
) -> anyhow::Result<NewKey> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let key_id = hex(&id);
    let secret = hex(&secret);
    let row = sqlx::query(
        "INSERT INTO api_keys (key_id, brand_id, role, secret_hash, label, created_by) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING created_at",
    )
    .bind(&key_id)
    .bind(brand_id)
    .bind(role.as_str())
    .bind(hash(&secret))
    .bind(label)
    .bind(created_by)
    .fetch_one(pool)
    .await?;
    Ok(NewKey {
        key: format!("lrk_{key_id}_{secret}"),
        info: KeyInfo {
            key_id,
            brand_id: brand_id.into(),
            role,
            label: label.into(),
            created_by: created_by.into(),
            created_at: row.try_get("created_at")?,
            revoked_at: None,
        },
    })
}

/// The principal a presented key belongs to; `None` for an unknown, revoked
/// or malformed key, or one of a deleted brand.
pub async fn verify_key(pool: &PgPool, presented: &str) -> anyhow::Result<Option<Principal>> {
    let Some(rest) = presented.strip_prefix("lrk_") else { return Ok(None) };
    let Some((key_id, secret)) = rest.split_once('_') else { return Ok(None) };
    let row = sqlx::query(
        "SELECT k.brand_id, k.role, k.secret_hash FROM api_keys k JOIN brands b ON b.brand_id = k.brand_id \
         WHERE k.key_id = $1 AND k.revoked_at IS NULL AND b.deleted_at IS NULL",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: Vec<u8> = row.try_get("secret_hash")?;
    if !constant_time_eq(&stored, &hash(secret)) {
        return Ok(None);
    }
    let role: String = row.try_get("role")?;
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    Ok(Some(Principal::Key { key_id: key_id.into(), brand_id: row.try_get("brand_id")?, role }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn admin_token_matches(configured: Option<&str>, presented: &str) -> bool {
    configured.is_some_and(|t| !t.is_empty() && constant_time_eq(t.as_bytes(), presented.as_bytes()))
}

pub async fn list_keys(pool: &PgPool, brand_id: &str) -> anyhow::Result<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT key_id, brand_id, role, label, created_by, created_at, revoked_at FROM api_keys WHERE brand_id = $1 \
         ORDER BY created_at, key_id",
    )
    .bind(brand_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(KeyInfo {
                key_id: r.try_get("key_id")?,
                brand_id: r.try_get("brand_id")?,
                role: Role::parse(&role).unwrap_or(Role::Analyst),
                label: r.try_get("label")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Revoke a key of `brand_id`; false when it has no such live key.
pub async fn revoke_key(pool: &PgPool, brand_id: &str, key_id: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE brand_id = $1 AND key_id = $2 AND revoked_at IS NULL",
    )
    .bind(brand_id)
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_needs_a_configured_nonempty_exact_match() {
        assert!(admin_token_matches(Some("s3cret"), "s3cret"));
        assert!(!admin_token_matches(Some("s3cret"), "s3cre"));
        assert!(!admin_token_matches(Some(""), ""));
        assert!(!admin_token_matches(None, "anything"));
    }

    #[test]
    fn roles_round_trip_their_names() {
        for r in [Role::Editor, Role::Operator, Role::Analyst] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
