use liveroom::events::Event;

use crate::helpers::*;

#[actix_web::test]
async fn replaying_the_log_reproduces_every_decision_and_the_live_digest() {
    let app = spawn_app().await;
    let session = app.open_room("rp").await;
    let script = [
        serde_json::json!([{"type": "join", "viewer_id": "a", "viewer_name": "阿杰"}, {"type": "join", "viewer_id": "b"}]),
        serde_json::json!({"type": "comment", "viewer_id": "a", "text": "多少钱"}),
        serde_json::json!({"type": "gift", "viewer_id": "b", "gift": "玫瑰", "count": 3, "value": 1}),
        serde_json::json!([{"type": "comment", "viewer_id": "b", "text": "can it make porridge?"}, {"type": "comment", "viewer_id": "a", "text": "哈哈哈"}]),
        serde_json::json!({"type": "comment", "viewer_id": "b", "text": "那个保温杯有货吗"}),
        serde_json::json!({"type": "order", "viewer_id": "a", "product_id": "cooker", "amount": 199}),
        serde_json::json!({"type": "comment", "viewer_id": "c", "text": "what colour is the sky?"}),
        serde_json::json!({"type": "leave", "viewer_id": "b"}),
    ];
    for batch in script {
        assert_eq!(app.post("/api/rooms/rp/events", batch).await.0, 200);
        for _ in 0..15 {
            app.clock.advance(200);
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    let (status, body) = app.post("/api/rooms/rp/commands", serde_json::json!({"command": "next_product"})).await;
    assert_eq!(status, 202, "{body}");
    app.wait_for(session, |ev| count(ev, "reply_decided") >= 3 && count(ev, "utterance_finished") >= 5, true).await;
    let (status, body) = app.post("/api/rooms/rp/end", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let live_digest = body["state_digest"].as_str().unwrap().to_string();

    let events = app.events(session).await;
    let report = liveroom::replay::replay(&events);
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert!(report.decisions_logged > 10);
    assert_eq!(report.decisions_reproduced, report.decisions_logged);
    assert_eq!(report.digest_at_end.as_deref(), Some(live_digest.as_str()));
    assert_eq!(report.live_digest.as_deref(), Some(live_digest.as_str()));
    // the English question was answered in English, the stock question
    // about the other product from that product's entry
    let replies: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ReplyDecided { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(replies.iter().any(|t| t.contains("porridge mode")), "{replies:?}");
    assert!(replies.iter().any(|t| t.contains("保温杯暂时卖完了")), "{replies:?}");
    assert!(replies.iter().any(|t| t.contains("到手价199元")), "{replies:?}");
    assert!(
        find(&events, |e| matches!(
            e,
            Event::CommentSkipped { reason: liveroom::events::SkipReason::NoKnowledgeMatch, .. }
        ))
        .is_some()
    );

    // a replay that was tampered with is caught
    let mut tampered = events.clone();
    let i = tampered.iter().position(|e| matches!(e.event, Event::ReplyDecided { .. })).unwrap();
    if let Event::ReplyDecided { text, .. } = &mut tampered[i].event {
        text.push_str("（改）");
    }
    assert!(!liveroom::replay::replay(&tampered).is_consistent());
    app.stop().await;
}
