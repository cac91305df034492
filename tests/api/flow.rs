use liveroom::events::{Event, PitchPos, UtterancePurpose};

use crate::helpers::*;

fn is_reply(e: &Event) -> bool {
    matches!(e, Event::UtteranceDispatched { purpose: UtterancePurpose::Reply { .. }, .. })
}

fn pitch_at(pos: PitchPos) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::UtteranceDispatched { purpose: UtterancePurpose::Pitch { pos: p }, .. } if *p == pos)
}

#[actix_web::test]
async fn a_question_is_logged_triaged_answered_from_knowledge_and_spoken() {
    let app = spawn_app().await;
    let session = app.open_room("r1").await;
    let (status, body) = app
        .post(
            "/api/rooms/r1/events",
            serde_json::json!({"type": "comment", "viewer_id": "v1", "viewer_name": "小鱼", "text": "电饭煲能煮粥吗"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let comment_seq = body["seqs"][0].as_i64().unwrap();
    // the acknowledgement means durable: the comment is in the log already
    let logged = app.events(session).await;
    assert!(logged.iter().any(|e| e.seq == comment_seq && matches!(e.event, Event::ViewerCommented { .. })));

    let events = app
        .wait_for(
            session,
            |ev| {
                dispatched_id(ev, is_reply).is_some_and(|id| {
                    find(ev, |e| matches!(e, Event::UtteranceFinished { utterance_id } if *utterance_id == id))
                        .is_some()
                })
            },
            true,
        )
        .await;
    let triaged = seq_of(&events, |e| matches!(e, Event::CommentTriaged { comment_seq: c, .. } if *c == comment_seq));
    let retrieved =
        seq_of(&events, |e| matches!(e, Event::KnowledgeRetrieved { comment_seq: c, .. } if *c == comment_seq));
    let decided = seq_of(
        &events,
        |e| matches!(e, Event::ReplyDecided { comment_seqs, .. } if comment_seqs == &vec![comment_seq]),
    );
    let dispatched = seq_of(&events, is_reply);
    assert!(comment_seq < triaged && triaged < retrieved && retrieved < decided && decided < dispatched);
    let Some(Event::ReplyDecided { text, entry_ids, .. }) =
        find(&events, |e| matches!(e, Event::ReplyDecided { .. })).map(|e| &e.event)
    else {
        unreachable!()
    };
    assert_eq!(text, "小鱼，可以煮粥，有专门的煮粥模式。");
    assert_eq!(entry_ids.len(), 1);
    // queued, started, finished acks of the reply, in that order
    let id = dispatched_id(&events, is_reply).unwrap();
    let acks: Vec<&str> = events
        .iter()
        .filter(|e| match &e.event {
            Event::UtteranceQueued { utterance_id }
            | Event::UtteranceStarted { utterance_id }
            | Event::UtteranceFinished { utterance_id } => *utterance_id == id,
            _ => false,
        })
        .map(|e| e.event.type_name())
        .collect();
    assert_eq!(acks, ["utterance_queued", "utterance_started", "utterance_finished"]);
    app.stop().await;
}

#[actix_web::test]
async fn a_question_waits_for_the_sentence_and_the_pitch_resumes_exactly_where_it_stopped() {
    let app = spawn_app().await;
    let session = app.open_room("r2").await;
    let first = PitchPos { product: 0, segment: 0, sentence: 0 };
    let events =
        app.wait_for(session, |ev| find(ev, |e| matches!(e, Event::UtteranceStarted { .. })).is_some(), false).await;
    let u1 = dispatched_id(&events, pitch_at(first)).expect("the show opens with the first sentence");

    let (status, _) = app
        .post("/api/rooms/r2/events", serde_json::json!({"type": "comment", "viewer_id": "v1", "text": "保修多久"}))
        .await;
    assert_eq!(status, 200);
    // the reply is decided while the sentence is still being spoken...
    let events =
        app.wait_for(session, |ev| find(ev, |e| matches!(e, Event::ReplyDecided { .. })).is_some(), false).await;
    assert!(dispatched_id(&events, is_reply).is_none(), "no barge-in inside a sentence");
    assert!(find(&events, |e| matches!(e, Event::UtteranceFinished { utterance_id } if *utterance_id == u1)).is_none());

    // ...and spoken right after it; then the pitch resumes at the next sentence
    let second = PitchPos { product: 0, segment: 0, sentence: 1 };
    let events = app.wait_for(session, |ev| dispatched_id(ev, pitch_at(second)).is_some(), true).await;
    let finished_u1 =
        seq_of(&events, |e| matches!(e, Event::UtteranceFinished { utterance_id } if *utterance_id == u1));
    let reply = seq_of(&events, is_reply);
    let advanced =
        seq_of(&events, |e| matches!(e, Event::PitchAdvanced { from, to, .. } if *from == first && *to == second));
    let resumed = seq_of(&events, pitch_at(second));
    assert!(finished_u1 < advanced && advanced < reply && reply < resumed);
    // the first sentence is never spoken twice
    assert_eq!(events.iter().filter(|e| pitch_at(first)(&e.event)).count(), 1);
    assert_no_overlap(&events);
    app.stop().await;
}

#[actix_web::test]
async fn an_operator_cancel_stops_the_sentence_and_the_pitch_repeats_it() {
    let app = spawn_app().await;
    let session = app.open_room("r3").await;
    let first = PitchPos::default();
    app.wait_for(session, |ev| find(ev, |e| matches!(e, Event::UtteranceStarted { .. })).is_some(), false).await;
    let (status, body) = app.post("/api/rooms/r3/commands", serde_json::json!({"command": "cancel_current"})).await;
    assert_eq!(status, 202, "{body}");
    let events = app.wait_for(session, |ev| ev.iter().filter(|e| pitch_at(first)(&e.event)).count() == 2, false).await;
    assert!(
        find(&events, |e| matches!(e, Event::UtteranceCancelled { utterance_id } if utterance_id == "u1")).is_some()
    );
    assert!(
        find(&events, |e| matches!(e, Event::PitchAdvanced { .. })).is_none(),
        "a cancelled sentence does not advance the pitch"
    );
    assert_no_overlap(&events);
    app.stop().await;
}

#[actix_web::test]
async fn gifts_and_joins_are_thanked_without_starving_the_pitch() {
    let app = spawn_app().await;
    let session = app.open_room("r4").await;
    for i in 0..6 {
        let batch = serde_json::json!([
            {"type": "join", "viewer_id": format!("j{i}"), "viewer_name": format!("观众{i}")},
            {"type": "gift", "viewer_id": format!("j{i}"), "gift": "玫瑰", "value": 1},
            {"type": "comment", "viewer_id": format!("j{i}"), "text": format!("能煮粥吗{}", "？".repeat(i))}
        ]);
        assert_eq!(app.post("/api/rooms/r4/events", batch).await.0, 200);
        app.clock.advance(1500);
    }
    let thanked_roses = |ev: &[liveroom::events::Envelope]| {
        find(ev, |e| matches!(e, Event::UtteranceDispatched { purpose: UtterancePurpose::Thanks, text, .. } if text.contains("玫瑰"))).is_some()
    };
    let events = app.wait_for(session, |ev| count(ev, "pitch_advanced") >= 3 && thanked_roses(ev), true).await;
    // between two pitch sentences at most two interactions are spoken
    let mut since_pitch = 0;
    for e in &events {
        if let Event::UtteranceDispatched { purpose, .. } = &e.event {
            match purpose {
                UtterancePurpose::Pitch { .. } => since_pitch = 0,
                _ => {
                    since_pitch += 1;
                    assert!(since_pitch <= 2, "the pitch was starved at seq {}", e.seq);
                }
            }
        }
    }
    // every comment got a reply or a recorded reason
    let comments: Vec<i64> =
        events.iter().filter(|e| matches!(e.event, Event::ViewerCommented { .. })).map(|e| e.seq).collect();
    app.wait_for(
        session,
        |ev| {
            comments.iter().all(|c| {
                find(ev, |e| match e {
                    Event::ReplyDecided { comment_seqs, .. } => comment_seqs.contains(c),
                    Event::CommentSkipped { comment_seq, .. } => comment_seq == c,
                    _ => false,
                })
                .is_some()
            })
        },
        true,
    )
    .await;
    assert_no_overlap(&events);
    app.stop().await;
}

#[actix_web::test]
async fn joins_carry_a_deterministic_experiment_variant() {
    let app = spawn_app().await;
    let body = serde_json::json!({"room_id": "exp", "brand_id": "testbrand", "experiment": {"name": "voice", "variants": ["a", "b"]}});
    let (status, body) = app.post("/api/rooms", body).await;
    assert_eq!(status, 200, "{body}");
    let session: uuid::Uuid = body["session_id"].as_str().unwrap().parse().unwrap();
    let joins: Vec<_> = (0..20).map(|i| serde_json::json!({"type": "join", "viewer_id": format!("v{i}")})).collect();
    assert_eq!(app.post("/api/rooms/exp/events", serde_json::Value::Array(joins)).await.0, 200);
    let events = app.events(session).await;
    let exp = liveroom::events::Experiment { name: "voice".into(), variants: vec!["a".into(), "b".into()] };
    let mut arms = std::collections::HashSet::new();
    for e in &events {
        if let Event::ViewerJoined { viewer, variant } = &e.event {
            assert_eq!(variant, &liveroom::ingest::assign_variant(&exp, &viewer.id));
            arms.insert(variant.clone().unwrap());
        }
    }
    assert_eq!(arms.len(), 2);
    app.stop().await;
}

/// No speaker ever has two utterances between dispatch and finish/cancel.
fn assert_no_overlap(events: &[liveroom::events::Envelope]) {
    let mut on_air: Option<String> = None;
    for e in events {
        match &e.event {
            Event::UtteranceDispatched { utterance_id, .. } => {
                assert!(on_air.is_none(), "{utterance_id} dispatched at seq {} while {on_air:?} is on air", e.seq);
                on_air = Some(utterance_id.clone());
            }
            Event::UtteranceFinished { utterance_id } | Event::UtteranceCancelled { utterance_id }
                if on_air.as_ref() == Some(utterance_id) =>
            {
                on_air = None;
            }
            _ => {}
        }
    }
}
