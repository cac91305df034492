//! Database access: where Postgres comes from (a given URL or the embedded
//! cluster), connection pools and migrations.

pub mod embedded;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub use embedded::{Durability, EmbeddedPostgres};

/// Where the database is: a server given by URL, or the embedded cluster this
/// process keeps alive (and stops on drop).
pub struct Database {
    pub url: String,
    /// Held so the embedded server lives as long as the database is used.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// `DATABASE_URL` if given, else the embedded cluster under `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Database> {
        match database_url {
            Some(url) => {
                ensure_database(url).await?;
                Ok(Database { url: url.to_string(), embedded: None })
            }
            None => {
                let dir = data_dir.to_path_buf();
                let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&dir, Durability::Durable))
                    .await
                    .context("embedded postgres start panicked")??;
                embedded::wait_ready(&admin_url(pg.url())?, Duration::from_secs(30)).await?;
                ensure_database(pg.url()).await?;
                Ok(Database { url: pg.url().to_string(), embedded: Some(pg) })
            }
        }
    }

    pub async fn pool(&self, max_connections: u32) -> anyhow::Result<PgPool> {
        connect(&self.url, max_connections).await
    }
}

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options =
        PgConnectOptions::from_str(url).context("bad database url")?.log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("cannot connect to postgres")
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.context("migrations failed")
}

/// `url` with its database replaced by `name` (same server, same options).
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).context("bad database url: no scheme")?;
    let host_part = &base[authority_end..];
    let path_start = host_part.find('/').map(|i| authority_end + i).unwrap_or(base.len());
    Ok(format!("{}/{name}{query}", &base[..path_start]))
}

/// The same server's `postgres` maintenance database.
fn admin_url(url: &str) -> anyhow::Result<String> {
    with_database(url, "postgres")
}

/// Create the URL's database if it does not exist yet.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("bad database url")?;
    let Some(name) = options.get_database().map(str::to_string) else { return Ok(()) };
    if sqlx::PgConnection::connect_with(&options).await.is_ok() {
        return Ok(());
    }
    let mut admin = sqlx::PgConnection::connect(&admin_url(url)?)
        .await
        .context("cannot connect to the server's postgres database to create ours")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.context("cannot create database")?;
    }
    Ok(())
}

/// The URL of a database named `<name>_<suffix>` on the same server, for
/// benchmarks and evaluations that must not touch the product's data.
pub fn sibling_database_url(url: &str, suffix: &str) -> anyhow::Result<String> {
    let options = PgConnectOptions::from_str(url).context("bad database url")?;
    let name = options.get_database().unwrap_or("postgres");
    with_database(url, &format!("{name}_{suffix}"))
}

/// Drop the database of `target_url` (connecting through `url`), and create
/// it again, empty, if `create`.
pub async fn recreate_database(url: &str, target_url: &str, create: bool) -> anyhow::Result<()> {
    let name = PgConnectOptions::from_str(target_url)?.get_database().unwrap_or_default().to_string();
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let quoted = name.replace('"', "\"\"");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)")))
        .execute(&mut conn)
        .await?;
    if create {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\""))).execute(&mut conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gets_another_database_and_keeps_its_options() {
        let url = "postgres://u:p@127.0.0.1:5432/liveroom?sslmode=disable";
        assert_eq!(with_database(url, "postgres").unwrap(), "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable");
        assert_eq!(
            sibling_database_url(url, "bench").unwrap(),
            "postgres://u:p@127.0.0.1:5432/liveroom_bench?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x").unwrap(), "postgres://h:1/x");
        assert!(with_database("not a url", "x").is_err());
    }
}
