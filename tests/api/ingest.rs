use liveroom::events::Event;

use crate::helpers::*;

#[actix_web::test]
async fn malformed_events_get_a_stable_error_and_nothing_is_logged() {
    let app = spawn_app().await;
    let session = app.open_room("bad").await;
    let before = app.events(session).await.len();
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"{not json", 400, "malformed_json"),
        (b"[]", 400, "empty_batch"),
        (br#"{"type":"teleport","viewer_id":"v"}"#, 400, "unknown_event_type"),
        (br#"{"type":"comment","viewer_id":"v"}"#, 400, "missing_field"),
        (br#"{"type":"like","viewer_id":"v","count":0}"#, 400, "invalid_field"),
        // one bad event refuses the whole batch: the good first one is not logged
        (br#"[{"type":"comment","viewer_id":"v","text":"hi"},{"type":"gift","viewer_id":"v"}]"#, 400, "missing_field"),
    ];
    for (body, status, code) in cases {
        let (got, json) = app.post_raw("/api/rooms/bad/events", body.to_vec()).await;
        assert_eq!(
            (got, json["code"].as_str().unwrap_or("")),
            (status, code),
            "{}: {json}",
            String::from_utf8_lossy(body)
        );
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let too_many: Vec<_> = (0..1001).map(|i| serde_json::json!({"type": "like", "viewer_id": i})).collect();
    let (status, json) = app.post("/api/rooms/bad/events", serde_json::Value::Array(too_many)).await;
    assert_eq!((status, json["code"].as_str().unwrap()), (413, "batch_too_large"));
    let (status, json) =
        app.post("/api/rooms/nowhere/events", serde_json::json!({"type": "like", "viewer_id": "v"})).await;
    assert_eq!((status, json["code"].as_str().unwrap()), (404, "room_not_found"));
    // give the room time to act on anything that slipped through
    app.clock.advance(100);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let after = app.events(session).await;
    assert!(
        !after.iter().any(|e| e.event.viewer().is_some()),
        "no viewer event may be logged: {:?}",
        after.iter().map(|e| e.event.type_name()).collect::<Vec<_>>()
    );
    assert!(after.len() >= before);
    app.stop().await;
}

#[actix_web::test]
async fn a_redelivered_platform_message_is_logged_once() {
    let app = spawn_app().await;
    let session = app.open_room("dup").await;
    let event = serde_json::json!({"type": "comment", "viewer_id": "v", "text": "主播好", "platform": "bilibili", "platform_msg_id": "m-1"});
    let (_, first) = app.post("/api/rooms/dup/events", event.clone()).await;
    let (_, second) = app.post("/api/rooms/dup/events", serde_json::json!([event, event])).await;
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(1), Some(0)));
    assert_eq!((second["accepted"].as_u64(), second["duplicates"].as_u64()), (Some(0), Some(2)));
    let events = app.events(session).await;
    assert_eq!(events.iter().filter(|e| matches!(e.event, Event::ViewerCommented { .. })).count(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn the_ingest_websocket_acknowledges_durable_events_and_explains_refusals() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    let session = app.open_room("wsin").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/rooms/wsin/ingest", app.port)).await.unwrap();
    ws.send(Message::Text(r#"[{"type":"join","viewer_id":"a"},{"type":"like","viewer_id":"a","count":3}]"#.into()))
        .await
        .unwrap();
    let ack: serde_json::Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(ack["accepted"], 2);
    let seqs: Vec<i64> = ack["seqs"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
    let logged = app.events(session).await;
    assert!(seqs.iter().all(|s| logged.iter().any(|e| e.seq == *s)), "acknowledged events are durable");
    ws.send(Message::Text(r#"{"type":"like"}"#.into())).await.unwrap();
    let refusal: serde_json::Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(refusal["code"], "missing_field");
    ws.close(None).await.unwrap();
    app.stop().await;
}

#[actix_web::test]
async fn the_event_log_refuses_updates_and_deletes() {
    let app = spawn_app().await;
    let session = app.open_room("ro").await;
    let update =
        sqlx::query("UPDATE events SET payload = '{}' WHERE session_id = $1").bind(session).execute(&app.pool).await;
    let delete = sqlx::query("DELETE FROM events WHERE session_id = $1").bind(session).execute(&app.pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    app.stop().await;
}
