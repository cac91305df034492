//! Retention and A/B analysis over the API (ANALYTICS.md), and the console
//! page that draws it.
//!
//! - `GET /api/rooms/{room}/analysis`, `GET /api/sessions/{session}/analysis`:
//!   the §9 JSON of the room's sessions (each a stream) or of one session;
//!   query `as_of`, `window_ms`, `grace_ms`, `alpha`, `control`, `weights`
//!   (`a,b`), `seq_tuning`, as the CLI's options
//! - `GET /api/sessions/{session}/export?from=&to=`: the §1 JSON Lines
//! - `GET /analysis`: the page (`src/console/analysis.html`)
//!
//! A key of the room's brand (any role) or the admin token; 401
//! `unauthorized`, 403 `forbidden`, 404 `room_not_found` /
//! `session_not_found`, 400 `invalid_request` (bad query, or a log that is
//! not analysable). The loaders here are shared with `liveroom analyze` and
//! `liveroom export`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::ApiError;
use super::knowledge::principal;
use crate::analytics::{self, Params};
use crate::auth::Principal;
use crate::room::Rooms;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analysis", web::get().to(page))
        .route("/api/rooms/{room}/analysis", web::get().to(room_analysis))
        .route("/api/sessions/{session}/analysis", web::get().to(session_analysis))
        .route("/api/sessions/{session}/export", web::get().to(session_export));
}

async fn page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(include_str!("../console/analysis.html"))
}

/// A room's sessions, oldest first (every one is a §1 stream).
pub async fn room_sessions(pool: &PgPool, room_id: &str) -> anyhow::Result<Vec<Uuid>> {
    Ok(crate::eventlog::list_sessions(pool, Some(room_id)).await?.into_iter().map(|s| s.session_id).collect())
}

/// The sessions a `--room` or `--session` selection names (ids, unique
/// prefixes, or a room for its latest session).
pub async fn selected_sessions(pool: &PgPool, room: Option<&str>, sessions: &[String]) -> anyhow::Result<Vec<Uuid>> {
    if let Some(room) = room {
        let found = room_sessions(pool, room).await?;
        if found.is_empty() {
            anyhow::bail!("room {room:?} has no sessions in the log");
        }
        return Ok(found);
    }
    let mut found = Vec::new();
    for given in sessions {
        found.push(crate::eventlog::resolve_session(pool, given).await?);
    }
    Ok(found)
}

/// Milliseconds since the epoch, or an RFC 3339 time.
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| anyhow::anyhow!("{text:?} is neither milliseconds since the epoch nor an RFC 3339 time"))
}

/// The §1 JSON Lines of `sessions` (each in log order), events in [from, to).
pub async fn export_lines(
    pool: &PgPool,
    sessions: &[Uuid],
    from: Option<i64>,
    to: Option<i64>,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (done, session) in sessions.iter().enumerate() {
        let events = crate::eventlog::read_session(pool, *session, 0).await?;
        for line in analytics::export::export_session(&events, from, to) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        progress(done + 1, sessions.len());
    }
    Ok(out)
}

/// The query parameters, as the CLI's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisQuery {
    as_of: Option<i64>,
    window_ms: Option<i64>,
    grace_ms: Option<i64>,
    alpha: Option<f64>,
    control: Option<String>,
    weights: Option<String>,
    seq_tuning: Option<f64>,
}

/// `a,b,c` as weights.
pub fn parse_weights(text: &str) -> Result<Vec<f64>, String> {
    text.split(',')
        .map(|w| {
            w.trim().parse::<f64>().map_err(|_| format!("weights must be numbers separated by commas, not {text:?}"))
        })
        .collect()
}

impl AnalysisQuery {
    fn params(&self) -> Result<Params, ApiError> {
        let defaults = Params::default();
        Ok(Params {
            as_of: self.as_of,
            window_ms: self.window_ms.unwrap_or(defaults.window_ms),
            grace_ms: self.grace_ms.unwrap_or(defaults.grace_ms),
            alpha: self.alpha.unwrap_or(defaults.alpha),
            control: self.control.clone(),
            weights: self.weights.as_deref().map(parse_weights).transpose().map_err(ApiError::InvalidRequest)?,
            seq_tuning: self.seq_tuning.unwrap_or(defaults.seq_tuning),
        })
    }
}

/// Any role of the sessions' brand may read their analysis.
async fn authorize(req: &HttpRequest, pool: &PgPool, sessions: &[Uuid]) -> Result<(), ApiError> {
    let who = principal(req, pool).await?;
    let Principal::Key { brand_id: own, .. } = &who else { return Ok(()) };
    for session in sessions {
        let brand = crate::eventlog::session_brand(pool, *session).await?;
        if brand.as_deref() != Some(own.as_str()) {
            return Err(ApiError::Forbidden(format!(
                "this key belongs to brand {own:?}, not to the brand of session {session}"
            )));
        }
    }
    Ok(())
}

fn session_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::InvalidRequest("session id must be a uuid".into()))
}

async fn known_session(pool: &PgPool, text: &str) -> Result<Uuid, ApiError> {
    let id = session_id(text)?;
    if crate::eventlog::count_events(pool, id).await? == 0 {
        return Err(ApiError::SessionNotFound(text.to_string()));
    }
    Ok(id)
}

/// Export, parse and analyse off the async threads.
async fn analysis_response(pool: &PgPool, sessions: Vec<Uuid>, params: Params) -> Result<HttpResponse, ApiError> {
    let lines = export_lines(pool, &sessions, None, None, &mut |_, _| {}).await?;
    let result = web::block(move || -> Result<serde_json::Value, ApiError> {
        let log = analytics::input::ParsedLog::read(&lines[..], &mut |_| {}).map_err(anyhow::Error::from)?;
        let analysis = analytics::analyze(log, &params).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        Ok(analytics::output::to_json(&analysis))
    })
    .await
    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("analysis worker failed: {e}")))??;
    Ok(HttpResponse::Ok().json(result))
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::InvalidRequest(format!("bad query: {e}")))
}

async fn room_analysis(
    req: HttpRequest,
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pool = &rooms.deps().pool;
    let params = query::<AnalysisQuery>(&req)?.params()?;
    let sessions = room_sessions(pool, &path).await?;
    principal(&req, pool).await?;
    if sessions.is_empty() {
        return Err(ApiError::RoomNotFound(path.into_inner()));
    }
    authorize(&req, pool, &sessions).await?;
    analysis_response(pool, sessions, params).await
}

async fn session_analysis(
    req: HttpRequest,
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pool = &rooms.deps().pool;
    let params = query::<AnalysisQuery>(&req)?.params()?;
    principal(&req, pool).await?;
    let session = known_session(pool, &path).await?;
    authorize(&req, pool, &[session]).await?;
    analysis_response(pool, vec![session], params).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    from: Option<i64>,
    to: Option<i64>,
}

async fn session_export(
    req: HttpRequest,
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pool = &rooms.deps().pool;
    let range = query::<ExportQuery>(&req)?;
    principal(&req, pool).await?;
    let session = known_session(pool, &path).await?;
    authorize(&req, pool, &[session]).await?;
    let lines = export_lines(pool, &[session], range.from, range.to, &mut |_, _| {}).await?;
    Ok(HttpResponse::Ok().content_type("application/x-ndjson").body(lines))
}
