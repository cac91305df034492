//! Generated replies end to end: the real app, Postgres, retrieval and
//! preview renderer, against the built-in streaming test server (and a real
//! llama.cpp server when LIVEROOM_TEST_LLAMA_URL names one).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liveroom::events::{Envelope, Event, SentenceVerdict, UtterancePurpose};
use liveroom::llm::LlmConfig;
use liveroom::llm::grounding;
use liveroom::llm::testserver::{self, End, Script, TestServer};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

async fn app_with_llm(server: &TestServer, tweak: impl FnOnce(&mut LlmConfig)) -> TestApp {
    let mut llm = LlmConfig::new(&server.base_url, "test-model");
    tweak(&mut llm);
    spawn_app_configured(&fresh_database().await, true, |s| s.llm = Some(llm)).await
}

/// The texts of generated-reply sentences dispatched, by reply id, in order.
fn spoken(events: &[Envelope]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for e in events {
        if let Event::UtteranceDispatched { text, purpose: UtterancePurpose::LlmReply { reply_id, .. }, .. } = &e.event
        {
            out.entry(reply_id.clone()).or_default().push(text.clone());
        }
    }
    out
}

async fn comment(app: &TestApp, room: &str, viewer: &str, name: &str, text: &str) -> i64 {
    // a connection of its own: rooms wait in parallel for seconds, longer
    // than the server keeps an idle pooled connection
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let resp = client
        .post(format!("{}/api/rooms/{room}/events", app.base))
        .json(&json!({"type": "comment", "viewer_id": viewer, "viewer_name": name, "text": text}))
        .send()
        .await
        .expect("post a comment");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    body["seqs"][0].as_i64().unwrap()
}

async fn command(app: &TestApp, room: &str, command: &str) {
    let (status, body) = app.post(&format!("/api/rooms/{room}/commands"), json!({"command": command})).await;
    assert_eq!(status, 202, "{body}");
}

fn reply_ended(events: &[Envelope], reply: &str) -> Option<String> {
    events.iter().find_map(|e| match &e.event {
        Event::LlmReplyEnded { reply_id, outcome, .. } if reply_id == reply => Some(outcome.clone()),
        _ => None,
    })
}

/// Re-step the policy over the logged inputs (no LLM anywhere): the
/// generated sentences it dispatches.
fn replayed_spoken(events: &[Envelope]) -> HashMap<String, Vec<String>> {
    let mut state = liveroom::room::state::RoomState::new(&events[0].room_id);
    let mut decisions = Vec::new();
    for e in events.iter().filter(|e| !e.event.is_decision()) {
        let step = liveroom::room::policy::step(&mut state, e);
        decisions.extend(step.decisions);
    }
    spoken(&decisions)
}

#[actix_web::test]
async fn a_generated_reply_is_spoken_sentence_by_sentence_and_replay_reproduces_it_with_no_llm() {
    let server = TestServer::start(testserver::grounded(30, 1)).await.unwrap();
    let app = app_with_llm(&server, |_| {}).await;
    let session = app.open_room("llm1").await;
    let seq = comment(&app, "llm1", "a", "小鱼", "电饭煲多少钱").await;
    let reply = format!("r{seq}");
    let events = app.wait_for(session, |ev| reply_ended(ev, &reply).is_some(), true).await;
    assert_eq!(reply_ended(&events, &reply).as_deref(), Some("spoken"));
    let requested = find(&events, |e| matches!(e, Event::LlmRequested { .. })).unwrap();
    let Event::LlmRequested { prompt_version, entry_ids, facts, .. } = &requested.event else { unreachable!() };
    assert!(prompt_version.starts_with("answer_viewer.zh@"), "{prompt_version}");
    assert!(!entry_ids.is_empty() && !facts.is_empty());
    let streamed: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::LlmSentence { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed.len(), 3, "{streamed:?}");
    assert!(events.iter().all(
        |e| !matches!(&e.event, Event::LlmSentenceChecked { verdict, .. } if *verdict != SentenceVerdict::Passed)
    ));
    assert_eq!(spoken(&events)[&reply], streamed, "every streamed sentence is its own utterance, in order");
    assert!(count(&events, "llm_finished") == 1 && count(&events, "llm_failed") == 0);

    let (status, body) = app.post("/api/rooms/llm1/end", json!({})).await;
    assert_eq!(status, 200, "{body}");
    drop(server); // no LLM reachable from here on
    let events = app.events(session).await;
    let report = liveroom::replay::replay(&events);
    assert!(report.is_consistent(), "{:?}", report.mismatches);
    assert_eq!(report.decisions_reproduced, report.decisions_logged);
    assert_eq!(replayed_spoken(&events), spoken(&events));
    app.stop().await;
}

#[actix_web::test]
async fn a_failing_endpoint_falls_back_to_the_template_reply_and_the_room_goes_on() {
    let server =
        TestServer::start(testserver::failing(Script::Status { code: 500, message: "down".into() })).await.unwrap();
    let app = app_with_llm(&server, |c| c.first_token_timeout_ms = 400).await;
    // the same question again is answered again, not grouped with the last answer
    let session = app.open_room_with("llm2", serde_json::json!({"group_window_ms": 0})).await;
    let seq = comment(&app, "llm2", "a", "小鱼", "电饭煲多少钱").await;
    let events = app
        .wait_for(session, |ev| ev.iter().any(|e| matches!(&e.event, Event::UtteranceDispatched { purpose: UtterancePurpose::Reply { comment_seqs }, .. } if comment_seqs.contains(&seq))), true)
        .await;
    assert_eq!(reply_ended(&events, &format!("r{seq}")).as_deref(), Some("failed_fallback"));
    assert!(find(&events, |e| matches!(e, Event::LlmFailed { .. })).is_some());
    assert!(
        find(&events, |e| matches!(e, Event::ReplyDecided { source, .. } if source == "template_fallback")).is_some()
    );
    // a stream cut off mid-way: the sentences that came are spoken, the reply ends
    let tokens = testserver::tokens("小鱼你好！到手价199元。还有", 3);
    server.set_behavior(testserver::failing(Script::Stream {
        first_delay_ms: 0,
        token_delay_ms: 0,
        tokens,
        end: End::Drop,
    }));
    app.clock.advance(1);
    let seq = comment(&app, "llm2", "b", "阿杰", "电饭煲现在多少钱").await;
    let reply = format!("r{seq}");
    let events = app.wait_for(session, |ev| reply_ended(ev, &reply).is_some(), true).await;
    assert_eq!(reply_ended(&events, &reply).as_deref(), Some("failed"));
    assert_eq!(spoken(&events)[&reply], ["小鱼你好！", "到手价199元。"]);
    assert!(liveroom::replay::replay(&events).mismatches.is_empty());
    app.stop().await;
}

#[actix_web::test]
async fn cancel_stops_the_stream_and_no_sentence_of_a_cancelled_reply_is_spoken_after_it() {
    let server = TestServer::start(testserver::grounded(10, 3)).await.unwrap();
    let app = app_with_llm(&server, |_| {}).await;
    // the same question again is answered again, not grouped with the last answer
    let session = app.open_room_with("llm3", serde_json::json!({"group_window_ms": 0})).await;
    command(&app, "llm3", "pause").await;
    command(&app, "llm3", "cancel_current").await;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let mut cancelled = 0;
    for n in 0..24 {
        app.clock.advance(1);
        let seq = comment(&app, "llm3", &format!("v{n}"), "小鱼", "电饭煲多少钱").await;
        let reply = format!("r{seq}");
        app.wait_for(session, |ev| spoken(ev).contains_key(&reply) || reply_ended(ev, &reply).is_some(), false).await;
        // cancel somewhere in the reply: while a sentence is on air, between
        // sentences, or while the rest is still streaming
        let steps = rng.random_range(0..12);
        for _ in 0..steps {
            app.clock.advance(200);
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..6))).await;
        }
        command(&app, "llm3", "cancel_current").await;
        let events = app.wait_for(session, |ev| reply_ended(ev, &reply).is_some(), true).await;
        if reply_ended(&events, &reply).as_deref() == Some("cancelled") {
            cancelled += 1;
        }
    }
    // whatever the streams still send arrives and is ignored
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..20 {
        app.clock.advance(500);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = app.events(session).await;
    assert!(cancelled >= 6, "only {cancelled} of 24 cancels landed inside a reply");
    assert_eq!(liveroom::bench::replies::spoken_after_cancel(&events), 0);
    assert!(liveroom::replay::replay(&events).mismatches.is_empty());
    app.stop().await;
}

/// Queries of tests/data/retrieval with their product's brand.
fn retrieval_queries() -> (liveroom::knowledge::Catalog, Vec<(String, String, String)>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/retrieval");
    let catalog: liveroom::knowledge::Catalog =
        serde_json::from_str(&std::fs::read_to_string(dir.join("catalog.json")).unwrap()).unwrap();
    let brand_of: HashMap<String, String> =
        catalog.products.iter().map(|p| (p.id.clone(), p.brand_id.clone().unwrap_or_default())).collect();
    let queries = std::fs::read_to_string(dir.join("queries.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let q: Value = serde_json::from_str(l).unwrap();
            let product = q["product_on_stage"].as_str().unwrap_or("");
            (
                q["id"].as_str().unwrap().to_string(),
                brand_of.get(product).cloned().unwrap_or_default(),
                q["query"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (catalog, queries)
}

#[actix_web::test]
async fn no_wrong_figure_from_an_adversarial_model_reaches_a_dispatched_utterance() {
    // the adversary states wrong prices, discounts and stock; the server
    // remembers, per comment, every figure it said that the facts do not
    let injected: Arc<Mutex<HashMap<String, HashSet<String>>>> = Arc::default();
    let adversary = testserver::adversarial(0, 0);
    let record = injected.clone();
    let server = TestServer::start(Arc::new(move |body: &Value| {
        let script = adversary(body);
        let data = testserver::request_data(body);
        let facts: Vec<f64> = data["facts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| {
                grounding::figures(f["text"].as_str().unwrap_or(""))
                    .into_iter()
                    .chain(grounding::figures(f["product"].as_str().unwrap_or("")))
            })
            .map(|f| f.value)
            .collect();
        if let Script::Stream { tokens, .. } = &script {
            let text = tokens.concat();
            let wrong: HashSet<String> = grounding::figures(&text)
                .into_iter()
                .filter(|f| !facts.iter().any(|k| (k - f.value).abs() < 1e-6))
                .map(|f| format!("{}", f.value))
                .collect();
            record.lock().unwrap().insert(data["comment"].as_str().unwrap_or("").to_string(), wrong);
        }
        script
    }))
    .await
    .unwrap();
    let db = fresh_database().await;
    let mut llm = LlmConfig::new(&server.base_url, "adversary");
    llm.first_token_timeout_ms = 3000;
    let app = spawn_app_configured(&db, false, |s| s.llm = Some(llm)).await;
    let (catalog, queries) = retrieval_queries();
    liveroom::knowledge::import_catalog(&app.pool, &catalog, "test").await.unwrap();
    let mut sessions = Vec::new();
    for brand in catalog.all_brands() {
        let room = format!("adv-{}", brand.id);
        let (status, body) = app.post("/api/rooms", json!({"room_id": room, "brand_id": brand.id})).await;
        assert_eq!(status, 200, "{body}");
        let session: Uuid = body["session_id"].as_str().unwrap().parse().unwrap();
        app.wait_for(session, |ev| !ev.is_empty(), false).await;
        command(&app, &room, "pause").await;
        command(&app, &room, "cancel_current").await;
        sessions.push((brand.id.clone(), room, session));
    }
    // every query goes in as a viewer comment, one at a time per room (rooms in parallel)
    let jobs = sessions.iter().map(|(brand, room, session)| {
        let queries: Vec<&(String, String, String)> = queries.iter().filter(|q| &q.1 == brand).collect();
        let app = &app;
        async move {
            for (id, _, text) in queries {
                let seq = comment(app, room, id, "观众", text).await;
                let reply = format!("r{seq}");
                // poll only what is new; speech takes virtual time: move it on fast
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                let mut after = seq - 1;
                let mut tail: Vec<String> = Vec::new();
                'wait: loop {
                    for e in liveroom::eventlog::read_session(&app.pool, *session, after).await.unwrap() {
                        after = e.seq;
                        tail.push(e.to_json());
                        match &e.event {
                            Event::LlmReplyEnded { reply_id, .. } if *reply_id == reply => break 'wait,
                            Event::CommentSkipped { comment_seq, .. } if *comment_seq == seq => break 'wait,
                            _ => {}
                        }
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no end for {reply} of {room}: {}",
                        tail[tail.len().saturating_sub(20)..].join("\n")
                    );
                    app.clock.advance(1000);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    });
    futures_util::future::join_all(jobs).await;
    let injected = injected.lock().unwrap().clone();
    let (mut replies, mut replaced, mut sentences) = (0, 0, 0);
    for (_, _, session) in &sessions {
        let events = app.events(*session).await;
        let comments: HashMap<i64, String> = events
            .iter()
            .filter_map(|e| match &e.event {
                Event::ViewerCommented { text, .. } => Some((e.seq, text.clone())),
                _ => None,
            })
            .collect();
        replaced += events
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::LlmSentenceChecked { verdict: SentenceVerdict::Ungrounded { .. }, .. })
            })
            .count();
        for e in &events {
            let Event::UtteranceDispatched { text, purpose: UtterancePurpose::LlmReply { comment_seqs, .. }, .. } =
                &e.event
            else {
                continue;
            };
            sentences += 1;
            let wrong = &injected[&comments[&comment_seqs[0]]];
            for f in grounding::figures(text) {
                assert!(
                    !wrong.contains(&format!("{}", f.value)),
                    "wrong figure {} reached the renderer: {text}",
                    f.raw
                );
            }
        }
        replies += count(&events, "llm_requested");
        assert!(liveroom::replay::replay(&events).mismatches.is_empty());
    }
    println!(
        "{} queries, {replies} generated replies, {sentences} sentences dispatched, {replaced} sentences replaced for wrong figures",
        queries.len()
    );
    assert!(
        replies >= 200 && replaced >= replies * 9 / 10,
        "the adversary must have been heard: {replies} replies, {replaced} replaced"
    );
    app.stop().await;
}

/// Runs only with a real OpenAI-compatible llama.cpp server:
/// LIVEROOM_TEST_LLAMA_URL=http://127.0.0.1:8081/v1 (LIVEROOM_TEST_LLAMA_MODEL optional).
#[actix_web::test]
async fn a_real_llama_cpp_model_answers_a_chinese_question_end_to_end() {
    let Ok(url) = std::env::var("LIVEROOM_TEST_LLAMA_URL") else {
        eprintln!(
            "SKIPPED: set LIVEROOM_TEST_LLAMA_URL to a llama.cpp server's /v1 URL to run this test against a real model"
        );
        return;
    };
    let mut llm =
        LlmConfig::new(&url, &std::env::var("LIVEROOM_TEST_LLAMA_MODEL").unwrap_or_else(|_| "default".into()));
    llm.first_token_timeout_ms = 30_000;
    llm.idle_timeout_ms = 10_000;
    llm.total_timeout_ms = 60_000;
    let app = spawn_app_configured(&fresh_database().await, true, |s| s.llm = Some(llm)).await;
    let session = app.open_room("llama").await;
    command(&app, "llama", "pause").await;
    let seq = comment(&app, "llama", "a", "小鱼", "这个电饭煲多少钱？能煮粥吗").await;
    let reply = format!("r{seq}");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let events = loop {
        let events = app.events(session).await;
        if reply_ended(&events, &reply).is_some() {
            break events;
        }
        assert!(std::time::Instant::now() < deadline, "no end of the reply in 90 s");
        app.clock.advance(500);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(find(&events, |e| matches!(e, Event::LlmFailed { .. })).is_none(), "the model failed: {events:?}");
    let said = spoken(&events).remove(&reply).unwrap_or_default();
    println!("the model said: {said:?}");
    assert!(!said.is_empty() && said.iter().any(|s| s.chars().any(liveroom::events::is_cjk)), "{said:?}");
    assert!(liveroom::replay::replay(&events).mismatches.is_empty());
    app.stop().await;
}

/// The short-video script over HTTP: templates without an LLM, generated
/// sentences with one (an unsupported figure left out and listed), and
/// clear errors for bad requests.
#[actix_web::test]
async fn the_video_script_route_builds_a_timed_grounded_script_and_rejects_bad_requests() {
    let says = |v: &Value| -> Vec<String> {
        v["cues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "say")
            .map(|c| c["text"].as_str().unwrap().to_string())
            .collect()
    };
    // no LLM: the template script
    let app = spawn_app().await;
    let (status, v) = app.call_json("POST", "/api/video-script", None, json!({"product_id": "cooker"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["source"], "template");
    assert!(!says(&v).is_empty() && v["duration_ms"].as_i64().unwrap() > 0, "{v}");
    assert!(v["cues"].as_array().unwrap().iter().any(|c| c["kind"] == "shot"), "{v}");
    let (status, v) =
        app.call_json("POST", "/api/video-script", None, json!({"product_id": "cooker", "lang": "en"})).await;
    assert_eq!((status, v["lang"].as_str()), (200, Some("en")), "{v}");
    for (body, code, want) in [
        (json!({"product_id": "no-such-product"}), 404, "product_not_found"),
        (json!({"product_id": "cooker", "lang": "fr"}), 400, "invalid_request"),
        (json!({"lang": "zh"}), 400, "invalid_request"),
    ] {
        let (status, v) = app.call_json("POST", "/api/video-script", None, body.clone()).await;
        assert_eq!((status, v["code"].as_str()), (code, Some(want)), "{body}: {v}");
    }
    app.stop().await;

    // with an LLM whose second sentence states a price no fact gives
    let server = TestServer::start(Arc::new(|_: &Value| Script::Stream {
        first_delay_ms: 5,
        token_delay_ms: 1,
        tokens: testserver::tokens("这款电饭煲煮饭很香。今天只要19元！", 3),
        end: End::Done,
    }))
    .await
    .unwrap();
    let app = app_with_llm(&server, |_| {}).await;
    let (status, v) = app.call_json("POST", "/api/video-script", None, json!({"product_id": "cooker"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["source"], "llm", "{v}");
    assert!(v["prompt_version"].is_string(), "{v}");
    assert_eq!(v["dropped"], json!(["今天只要19元！"]), "{v}");
    assert!(says(&v).iter().any(|t| t.contains("煮饭很香")) && !says(&v).iter().any(|t| t.contains("19")), "{v}");
    app.stop().await;
}
