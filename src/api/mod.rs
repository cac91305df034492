//! The HTTP API and websockets (actix-web).
//!
//! - `GET /` the operator console page; `GET /healthz`
//! - `GET /api/rooms`, `POST /api/rooms` (open a room), `GET /api/rooms/{room}`
//! - `POST /api/rooms/{room}/events` viewer events (one or a batch)
//! - `POST /api/rooms/{room}/commands` operator commands
//! - `POST /api/rooms/{room}/end` end the session
//! - `GET /api/sessions`, `GET /api/sessions/{session}/events` the log, for analysts
//! - `GET /ws/rooms/{room}/ingest` viewer events over a websocket
//! - `GET /ws/rooms/{room}/console` every event of the room, as logged
//! - `/api/brands/...` brand knowledge, with API keys (see `knowledge`)

pub mod analytics;
pub mod error;
pub mod knowledge;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::console;
use crate::events::OperatorCommand;
use crate::room::actor::{GetSnapshot, Ingest, IngestReceipt, Operate};
use crate::room::{RoomHandle, RoomSpec, Rooms};
pub use error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(console::page))
        .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }))
        .route("/api/rooms", web::get().to(list_rooms))
        .route("/api/rooms", web::post().to(open_room))
        .route("/api/rooms/{room}", web::get().to(room_snapshot))
        .route("/api/rooms/{room}/events", web::post().to(ingest_http))
        .route("/api/rooms/{room}/commands", web::post().to(operator_command))
        .route("/api/rooms/{room}/end", web::post().to(end_room))
        .route("/api/video-script", web::post().to(video_script))
        .route("/api/sessions", web::get().to(list_sessions))
        .route("/api/sessions/{session}/events", web::get().to(session_events))
        .route("/ws/rooms/{room}/ingest", web::get().to(ingest_ws))
        .route("/ws/rooms/{room}/console", web::get().to(console::websocket))
        .configure(knowledge::routes)
        .configure(analytics::routes);
}

pub fn room(rooms: &Rooms, room_id: &str) -> Result<RoomHandle, ApiError> {
    rooms.get(room_id).ok_or_else(|| ApiError::RoomNotFound(room_id.to_string()))
}

/// The one ingest path: HTTP, websocket and the simulator all come here.
/// Returns once every accepted event is durable.
pub async fn ingest(rooms: &Rooms, room_id: &str, body: &[u8]) -> Result<IngestReceipt, ApiError> {
    let events = crate::ingest::parse_body(body)?;
    let handle = room(rooms, room_id)?;
    let receipt = handle.addr.send(Ingest { events }).await.map_err(|_| crate::room::RoomError::Stopped)??;
    Ok(receipt)
}

async fn ingest_http(
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let receipt = ingest(&rooms, &path, &body).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

async fn ingest_ws(
    req: HttpRequest,
    payload: web::Payload,
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    let room_id = path.into_inner();
    room(&rooms, &room_id)?;
    let (response, mut session, stream) = actix_ws::handle(&req, payload)?;
    let mut stream = stream.max_frame_size(4 << 20).aggregate_continuations();
    let rooms = rooms.into_inner();
    actix_web::rt::spawn(async move {
        use actix_ws::AggregatedMessage;
        use futures_util::StreamExt;
        while let Some(Ok(msg)) = stream.next().await {
            let reply = match msg {
                AggregatedMessage::Text(text) => match ingest(&rooms, &room_id, text.as_bytes()).await {
                    Ok(receipt) => serde_json::to_string(&receipt).unwrap_or_default(),
                    Err(e) => e.body().to_string(),
                },
                AggregatedMessage::Binary(bytes) => match ingest(&rooms, &room_id, &bytes).await {
                    Ok(receipt) => serde_json::to_string(&receipt).unwrap_or_default(),
                    Err(e) => e.body().to_string(),
                },
                AggregatedMessage::Ping(bytes) => {
                    let _ = session.pong(&bytes).await;
                    continue;
                }
                AggregatedMessage::Pong(_) => continue,
                AggregatedMessage::Close(_) => break,
            };
            if session.text(reply).await.is_err() {
                break;
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRoom {
    room_id: String,
    brand_id: String,
    #[serde(default)]
    experiment: Option<crate::events::Experiment>,
    #[serde(default)]
    policy: Option<crate::room::state::PolicyConfig>,
}

async fn open_room(rooms: web::Data<Arc<Rooms>>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let req: OpenRoom =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidRequest(format!("bad room request: {e}")))?;
    if req.room_id.is_empty()
        || req.room_id.len() > 64
        || !req.room_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::InvalidRequest("room_id must be 1-64 characters of [A-Za-z0-9_-]".into()));
    }
    if let Some(exp) = &req.experiment
        && (exp.name.is_empty() || exp.variants.len() < 2)
    {
        return Err(ApiError::InvalidRequest("an experiment needs a name and at least two variants".into()));
    }
    let spec = RoomSpec {
        room_id: req.room_id.clone(),
        brand_id: req.brand_id,
        experiment: req.experiment,
        policy: req.policy,
    };
    let handle = rooms.open(&req.room_id, Some(&spec)).await?;
    Ok(HttpResponse::Ok().json(json!({"room_id": handle.room_id, "session_id": handle.session_id})))
}

async fn list_rooms(rooms: web::Data<Arc<Rooms>>) -> HttpResponse {
    let list: Vec<_> =
        rooms.list().into_iter().map(|h| json!({"room_id": h.room_id, "session_id": h.session_id})).collect();
    HttpResponse::Ok().json(list)
}

async fn room_snapshot(rooms: web::Data<Arc<Rooms>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let handle = room(&rooms, &path)?;
    let snapshot = handle.addr.send(GetSnapshot).await.map_err(|_| crate::room::RoomError::Stopped)?;
    Ok(HttpResponse::Ok().json(snapshot))
}

async fn operator_command(
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let command: OperatorCommand = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "bad command ({e}); expected {{\"command\": \"cancel_current\" | \"next_product\" | \"pause\" | \"resume\" | \"say\", \"text\"?: ..}}"
        ))
    })?;
    if let OperatorCommand::Say { text } = &command
        && (text.trim().is_empty() || text.chars().count() > crate::ingest::MAX_TEXT_CHARS)
    {
        return Err(ApiError::InvalidRequest("`say` needs a text of 1-500 characters".into()));
    }
    let handle = room(&rooms, &path)?;
    let seq = handle.addr.send(Operate { command }).await.map_err(|_| crate::room::RoomError::Stopped)??;
    Ok(HttpResponse::Accepted().json(json!({"seq": seq})))
}

async fn end_room(rooms: web::Data<Arc<Rooms>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    room(&rooms, &path)?;
    let digest = rooms.end(&path, "operator").await?;
    Ok(HttpResponse::Ok().json(json!({"state_digest": digest})))
}

#[derive(Debug, Deserialize)]
struct SessionQuery {
    room: Option<String>,
}

async fn list_sessions(rooms: web::Data<Arc<Rooms>>, q: web::Query<SessionQuery>) -> Result<HttpResponse, ApiError> {
    let list = crate::eventlog::list_sessions(&rooms.deps().pool, q.room.as_deref()).await?;
    Ok(HttpResponse::Ok().json(list))
}

async fn session_events(rooms: web::Data<Arc<Rooms>>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::parse_str(&path).map_err(|_| ApiError::InvalidRequest("session id must be a uuid".into()))?;
    let events = crate::eventlog::read_session(&rooms.deps().pool, id, 0).await?;
    if events.is_empty() {
        return Err(ApiError::SessionNotFound(path.into_inner()));
    }
    Ok(HttpResponse::Ok().json(events))
}

#[derive(Debug, serde::Deserialize)]
struct VideoScriptRequest {
    product_id: String,
    #[serde(default)]
    lang: Option<String>,
}

/// A timed short-video script for a product (LLM when configured, templates otherwise).
async fn video_script(rooms: web::Data<Arc<Rooms>>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let req: VideoScriptRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("bad video-script request: {e}")))?;
    let lang = crate::video::parse_lang(req.lang.as_deref().unwrap_or("zh"))
        .ok_or_else(|| ApiError::InvalidRequest("lang must be zh or en".into()))?;
    let deps = rooms.deps();
    let product = crate::video::load_product(&deps.pool, &req.product_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("product", req.product_id.clone()))?;
    let script = crate::video::build(&product, lang, deps.llm.as_deref()).await;
    Ok(HttpResponse::Ok().json(script))
}
