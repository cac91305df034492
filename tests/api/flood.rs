//! A hot room: a flood of comments, most of them near-duplicates of a few
//! questions. Everything is logged, each question is answered once as a
//! group, and every comment not answered carries a reason, all read back
//! from the log. (The full 10,000-in-10-s run is `liveroom bench flood`.)

use std::time::{Duration, Instant};

use liveroom::bench::flood::{analyse, generate, to_strings};
use liveroom::events::{Event, UtterancePurpose};

use crate::helpers::*;

#[actix_web::test]
async fn a_flood_is_logged_whole_each_question_is_answered_once_as_a_group_and_every_skip_has_a_reason() {
    let app = spawn_app().await;
    let session = app.open_room("hot").await;
    let questions = to_strings(&[
        &["能煮粥吗", "可以煮粥吗", "can it make porridge"],
        &["保修多久", "warranty"],
        &["多少钱", "价格多少"],
        &["有货吗", "还有货吗"],
        &["能装热水吗"],
    ]);
    // 2,000 comments in 2 s of room time, from 600 viewers
    let comments = generate(&questions, 2000, 600, 11);
    for chunk in comments.chunks(100) {
        let batch = serde_json::Value::Array(chunk.iter().map(|c| c.json.clone()).collect());
        let (status, body) = app.post("/api/rooms/hot/events", batch).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"], 100);
        app.clock.advance(100);
    }
    // the room answers while the clock runs, until nothing is left open
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let resp = app.http.get(format!("{}/api/rooms/hot", app.base)).send().await.expect("snapshot");
        let snapshot: serde_json::Value = resp.json().await.expect("snapshot json");
        assert!(snapshot["disclosure"].as_str().is_some_and(|d| d.contains("AI")), "the room discloses its AI host");
        if snapshot["pending_comments"] == 0 && snapshot["queued_replies"] == 0 && snapshot["in_flight_batches"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "comments still open: {snapshot}");
        app.clock.advance(500);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = app.events(session).await;
    let report = analyse(&events, &comments, questions.len());
    if std::env::var("FLOOD_DEBUG").is_ok() {
        let text_of =
            |seq: i64| events.iter().find(|e| e.seq == seq).map(|e| format!("{:?}", e.event)).unwrap_or_default();
        for e in &events {
            match &e.event {
                Event::QuestionGrouped { by: liveroom::events::GroupedBy::New, comment_seq, .. } => {
                    eprintln!("{} NEW {:?} <- {}", e.seq, e.event, text_of(*comment_seq))
                }
                Event::KnowledgeRetrieved { comment_seq, entries, .. } => {
                    eprintln!("{} KR {comment_seq} {:?}", e.seq, entries.iter().map(|x| x.entry_id).collect::<Vec<_>>())
                }
                Event::CommentSkipped { reason: liveroom::events::SkipReason::NoKnowledgeMatch, comment_seq } => {
                    eprintln!("{} NOMATCH {}", e.seq, text_of(*comment_seq))
                }
                _ => {}
            }
        }
    }
    assert_eq!((report.sent, report.logged, report.lost), (2000, 2000, 0));
    assert_eq!(report.unaccounted, 0, "every comment not answered has a skip reason");
    assert_eq!(report.answered_and_skipped, 0);
    assert_eq!(
        report.per_question.iter().map(|q| q.0).collect::<Vec<_>>(),
        [1, 1, 1, 1, 1],
        "each question answered once: {report:?}"
    );
    assert_eq!(report.groups_answered, 5, "{report:?}");
    assert!(report.per_question.iter().all(|q| q.1 >= 20), "answered as groups: {report:?}");
    assert_eq!(report.mixed_answers, 0);
    for reason in ["flood", "emoji_only", "prompt_injection", "compliance_blocked", "spam"] {
        assert!(report.skip_reasons.contains_key(reason), "{reason} missing: {:?}", report.skip_reasons);
    }
    // group replies count their askers; nothing a viewer wrote is spoken but a safe name
    let replies: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::UtteranceDispatched { text, purpose: UtterancePurpose::Reply { comment_seqs }, .. }
                if comment_seqs.len() > 3 =>
            {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(
        replies.len() >= 5 && replies.iter().all(|t| t.contains("位朋友") || t.contains("A lot of you")),
        "{replies:?}"
    );
    for e in &events {
        if let Event::UtteranceDispatched { text, .. } = &e.event {
            for injected in ["九块九", "free", "假货", "忽略", "最帅"] {
                assert!(!text.contains(injected), "viewer text spoken at seq {}: {text}", e.seq);
            }
        }
    }
    // replay reproduces every decision, groups and skips included
    let replay = liveroom::replay::replay(&events);
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    assert_eq!(replay.decisions_reproduced, replay.decisions_logged);
    app.stop().await;
}
