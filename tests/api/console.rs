use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

async fn next_json(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("console message in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[actix_web::test]
async fn the_console_streams_the_session_from_its_start_then_live_events() {
    let app = spawn_app().await;
    let session = app.open_room("con").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/rooms/con/console", app.port)).await.unwrap();
    let first = next_json(&mut ws).await;
    assert_eq!((first["type"].as_str(), first["seq"].as_i64()), (Some("session_started"), Some(1)));
    assert_eq!(first["session_id"].as_str(), Some(session.to_string().as_str()));
    assert!(first["data"]["disclosure"].as_str().unwrap().contains("AI"));

    app.post("/api/rooms/con/events", serde_json::json!({"type": "comment", "viewer_id": "v", "text": "保修多久"}))
        .await;
    let mut last_seq = 1;
    let mut seen = Vec::new();
    while !seen.iter().any(|t: &String| t == "comment_triaged") {
        let e = next_json(&mut ws).await;
        let seq = e["seq"].as_i64().unwrap();
        assert_eq!(seq, last_seq + 1, "every event once, in order");
        last_seq = seq;
        if e["type"] == "viewer_commented" {
            assert_eq!(e["data"]["text"], "保修多久");
        }
        seen.push(e["type"].as_str().unwrap().to_string());
    }
    assert!(seen.contains(&"viewer_commented".to_string()));
    ws.close(None).await.unwrap();
    app.stop().await;
}

#[actix_web::test]
async fn the_console_page_is_served() {
    let app = spawn_app().await;
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/ws/rooms/") && page.contains("console"));
    app.stop().await;
}
