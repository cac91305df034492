//! The ONNX intent model in a live room (real model, prepared by models/setup.sh).

use liveroom::app::TriageMode;
use liveroom::events::{Event, Intent};

use crate::helpers::*;

fn triaged(events: &[liveroom::events::Envelope], seq: i64) -> Option<(Intent, String, Option<f32>, Option<i64>)> {
    events.iter().find_map(|e| match &e.event {
        Event::CommentTriaged { comment_seq, intent, classifier, confidence, similar_to, .. }
            if *comment_seq == seq =>
        {
            Some((*intent, classifier.clone(), *confidence, *similar_to))
        }
        _ => None,
    })
}

#[actix_web::test]
async fn the_model_triager_records_its_name_confidence_and_near_duplicates_and_replay_needs_no_model() {
    let db = fresh_database().await;
    let app = spawn_app_with(&db, true, TriageMode::Model).await;
    let session = app.open_room("tri").await;
    let comment = |viewer: &str, text: &str| serde_json::json!({"type": "comment", "viewer_id": viewer, "text": text});
    let mut seqs = Vec::new();
    // one at a time, so that each is triaged before the next arrives
    for (viewer, text) in
        [("a", "这个锅能煮粥吗"), ("b", "主播晚上好"), ("c", "这个锅能不能煮粥"), ("d", "这个锅能煮粥吗")]
    {
        let (status, body) = app.post("/api/rooms/tri/events", comment(viewer, text)).await;
        assert_eq!(status, 200, "{body}");
        let seq = body["seqs"][0].as_i64().unwrap();
        // the node loads the model in the background, and slowly on a busy
        // machine: the first comment may wait for it longer than wait_for's 10 s
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while triaged(&app.events(session).await, seq).is_none() {
            assert!(std::time::Instant::now() < deadline, "comment {seq} was not triaged");
            app.clock.advance(100);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        seqs.push(seq);
    }
    let events = app.events(session).await;
    let results: Vec<_> = seqs.iter().map(|s| triaged(&events, *s).unwrap()).collect();
    for (intent, classifier, confidence, _) in &results {
        assert!(classifier.starts_with("use-m-v3-triage-int8-"), "{classifier}");
        let c = confidence.expect("the model records a confidence");
        assert!(c > 0.0 && c <= 1.0, "{c}");
        let _ = intent;
    }
    assert_eq!(results[0].0, Intent::ProductQuestion);
    assert_eq!(results[1].0, Intent::Greeting);
    assert_eq!(results[0].3, None);
    assert_eq!(results[1].3, None, "a greeting is not like the porridge question");
    assert_eq!(results[2].3, Some(seqs[0]), "the paraphrase points at the first question");
    assert_eq!(results[3].3, Some(seqs[0]), "the exact repeat too");

    let (status, body) = app.post("/api/rooms/tri/end", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let live_digest = body["state_digest"].as_str().unwrap().to_string();
    // replay is a pure fold over the log: the classifications are read, not recomputed
    let events = app.events(session).await;
    let report = liveroom::replay::replay(&events);
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!(report.decisions_reproduced, report.decisions_logged);
    assert_eq!(report.digest_at_end.as_deref(), Some(live_digest.as_str()));
}
