//! The operator console: a websocket that streams every event of a room as
//! it is logged (the current session from its start, then live), and the
//! page at `/` that shows it.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use tokio::sync::broadcast;

use crate::api::{ApiError, room};
use crate::room::Rooms;

pub async fn page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(include_str!("index.html"))
}

pub async fn websocket(
    req: HttpRequest,
    payload: web::Payload,
    rooms: web::Data<Arc<Rooms>>,
    path: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    let handle = room(&rooms, &path)?;
    // subscribe before reading the log: nothing durable falls in between
    let mut live = handle.console.subscribe();
    let pool = rooms.deps().pool.clone();
    let (response, mut session, mut stream) = actix_ws::handle(&req, payload)?;
    actix_web::rt::spawn(async move {
        let mut last_sent = 0i64;
        match crate::eventlog::read_session(&pool, handle.session_id, 0).await {
            Ok(history) => {
                for e in history {
                    last_sent = e.seq;
                    if session.text(e.to_json()).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let body = ApiError::from(e).body().to_string();
                let _ = session.text(body).await;
                let _ = session.close(None).await;
                return;
            }
        }
        loop {
            tokio::select! {
                line = live.recv() => match line {
                    Ok(line) if line.seq > last_sent => {
                        last_sent = line.seq;
                        if session.text(line.json.to_string()).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // a slow console misses lines, never silently
                        let notice = serde_json::json!({"type": "console_lagged", "data": {"missed": n}});
                        if session.text(notice.to_string()).await.is_err() { return; }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                msg = stream.recv() => match msg {
                    Some(Ok(actix_ws::Message::Ping(b))) => { let _ = session.pong(&b).await; }
                    Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}
