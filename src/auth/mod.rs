//! API keys. Every brand has its own keys, each with one role:
//! - `editor`: reads and writes the brand's knowledge and manages its keys;
//! - `operator`: reads the brand's knowledge (runs the brand's rooms);
//! - `analyst`: reads the brand's knowledge and its version history.
//!
//! A key reads `lrk_<key_id>_<secret>`; only the SHA-256 of the secret is
//! stored (`key`: the format and hashing, pure; `store`: the SQL). The node's
//! admin token (`LIVEROOM_ADMIN_TOKEN`) creates and deletes brands.

pub mod key;
pub(crate) mod store;

use serde::Serialize;
use sqlx::PgPool;

pub use key::KeyParts;

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

/// Whether `presented` is the node's admin token (never when none is configured).
pub fn admin_token_matches(configured: Option<&str>, presented: &str) -> bool {
    configured.is_some_and(|t| !t.is_empty() && key::constant_time_eq(t.as_bytes(), presented.as_bytes()))
}

/// A new key of `brand_id` with `role`.
pub async fn create_key(
    pool: &PgPool,
    brand_id: &str,
    role: Role,
    label: &str,
    created_by: &str,
) -> anyhow::Result<NewKey> {
    let parts = KeyParts::generate();
    let created_at =
        store::insert_key(pool, &parts.key_id, brand_id, role, &parts.secret_hash(), label, created_by).await?;
    Ok(NewKey {
        key: parts.full_text(),
        info: KeyInfo {
            key_id: parts.key_id,
            brand_id: brand_id.into(),
            role,
            label: label.into(),
            created_by: created_by.into(),
            created_at,
            revoked_at: None,
        },
    })
}

/// The principal a presented key belongs to; `None` for an unknown, revoked
/// or malformed key, or one of a deleted brand.
pub async fn verify_key(pool: &PgPool, presented: &str) -> anyhow::Result<Option<Principal>> {
    let Some(parts) = KeyParts::parse(presented) else { return Ok(None) };
    let Some(stored) = store::live_key(pool, &parts.key_id).await? else { return Ok(None) };
    if !parts.matches(&stored.secret_hash) {
        return Ok(None);
    }
    let Some(role) = Role::parse(&stored.role) else { return Ok(None) };
    Ok(Some(Principal::Key { key_id: parts.key_id, brand_id: stored.brand_id, role }))
}

/// The brand's keys, revoked ones included, oldest first.
pub async fn list_keys(pool: &PgPool, brand_id: &str) -> anyhow::Result<Vec<KeyInfo>> {
    store::keys_of_brand(pool, brand_id).await
}

/// Revoke a key of `brand_id`; false when it has no such live key.
pub async fn revoke_key(pool: &PgPool, brand_id: &str, key_id: &str) -> anyhow::Result<bool> {
    store::revoke_key(pool, brand_id, key_id).await
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
