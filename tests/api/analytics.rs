//! Retention and A/B analysis over the API and the CLI (ANALYTICS.md): a
//! room's real log, read back through the §1 export, and the binary on files.

use std::collections::HashMap;

use liveroom::events::Experiment;
use serde_json::{Value, json};

use crate::helpers::*;

async fn analyst_key(app: &TestApp, brand: &str) -> String {
    liveroom::auth::create_key(&app.pool, brand, liveroom::auth::Role::Analyst, "analysis", "test")
        .await
        .expect("create a key")
        .key
}

#[actix_web::test]
async fn a_brand_key_reads_its_rooms_analysis_and_the_export_reads_back_to_the_same_figures() {
    let app = spawn_app().await;
    let experiment = json!({"name": "voice", "variants": ["a", "b"]});
    let (status, body) =
        app.post("/api/rooms", json!({"room_id": "ab", "brand_id": "testbrand", "experiment": experiment})).await;
    assert_eq!(status, 200, "{body}");
    let session = body["session_id"].as_str().unwrap_or_default().to_string();
    // ten viewers join at t0; v0-v4 leave at 30 s, v5-v7 at 130 s; v8, v9 are still there when
    // the session ends at 140 s (censored, T = 140 s)
    let joins: Vec<Value> = (0..10).map(|i| json!({"type": "join", "viewer_id": format!("v{i}")})).collect();
    assert_eq!(app.post("/api/rooms/ab/events", Value::Array(joins)).await.0, 200);
    app.clock.advance(30_000);
    let leaves: Vec<Value> = (0..5).map(|i| json!({"type": "leave", "viewer_id": format!("v{i}")})).collect();
    assert_eq!(app.post("/api/rooms/ab/events", Value::Array(leaves)).await.0, 200);
    app.clock.advance(100_000);
    let leaves: Vec<Value> = (5..8).map(|i| json!({"type": "leave", "viewer_id": format!("v{i}")})).collect();
    assert_eq!(app.post("/api/rooms/ab/events", Value::Array(leaves)).await.0, 200);
    let order = json!({"type": "order", "viewer_id": "v6", "product_id": "p1", "quantity": 1, "amount": 299.0});
    assert_eq!(app.post("/api/rooms/ab/events", order).await.0, 200);
    app.clock.advance(10_000);
    assert_eq!(app.post("/api/rooms/ab/end", json!({})).await.0, 200);

    // expected, by hand: every viewer is mature (C = 140 s ≥ W); retained: v5-v9 (T ≥ 120 s)
    let exp = Experiment { name: "voice".into(), variants: vec!["a".into(), "b".into()] };
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    for i in 0..10 {
        let variant = liveroom::ingest::assign_variant(&exp, &format!("v{i}")).unwrap_or_default();
        let slot = expected.entry(variant).or_default();
        slot.0 += (i >= 5) as u64;
        slot.1 += 1;
    }
    let key = analyst_key(&app, "testbrand").await;
    let (status, analysis) = app.call("GET", &format!("/api/sessions/{session}/analysis"), Some(&key), None).await;
    assert_eq!(status, 200, "{analysis}");
    for (variant, (retained, n)) in &expected {
        let mature = &analysis["variants"][variant]["retention"]["mature"];
        assert_eq!((mature["retained"].as_u64(), mature["n"].as_u64()), (Some(*retained), Some(*n)), "{variant}");
        assert_eq!(analysis["variants"][variant]["viewers"].as_u64(), Some(*n));
    }
    let v6 = liveroom::ingest::assign_variant(&exp, "v6").unwrap_or_default();
    assert_eq!(analysis["variants"][&v6]["gmv_total"].as_f64(), Some(299.0));
    assert_eq!(analysis["diagnostics"]["live_streams"], 0);

    // the room's analysis covers its one session; the admin token reads it too
    let (status, by_room) = app.call("GET", "/api/rooms/ab/analysis", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "{by_room}");
    assert_eq!(by_room, analysis);

    // the export is §1 JSON Lines that analyse to the same figures
    let (status, export) = app.call("GET", &format!("/api/sessions/{session}/export"), Some(&key), None).await;
    assert_eq!(status, 200);
    let text = export.as_str().unwrap_or_default();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).map(|v| v["kind"].as_str().unwrap_or_default().to_string()))
        .collect::<Result<_, _>>()
        .expect("every exported line is JSON");
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!((count("join"), count("leave"), count("purchase"), count("stream_end")), (10, 8, 1, 1));
    let log = liveroom::analytics::input::ParsedLog::read(text.as_bytes(), &mut |_| {}).expect("read");
    let again = liveroom::analytics::analyze(log, &liveroom::analytics::Params::default()).expect("analyse");
    // compared as the client saw it: through JSON text (serde_json parses floats to within an ulp)
    let again: Value = serde_json::from_str(&liveroom::analytics::output::to_json(&again).to_string()).expect("json");
    assert_eq!(again, analysis);
    // the window: only events before the end
    let (_, cut) = app.call("GET", &format!("/api/sessions/{session}/export?to=1700000130000"), Some(&key), None).await;
    assert_eq!(cut.as_str().unwrap_or_default().lines().count(), 15, "10 joins, 5 leaves");
    app.stop().await;
}

#[actix_web::test]
async fn analysis_routes_answer_401_403_404_and_400_with_stable_codes() {
    let app = spawn_app().await;
    let session = app.open_room("r1").await;
    let key = analyst_key(&app, "testbrand").await;
    let (status, body) =
        app.call_json("POST", "/api/brands", Some(ADMIN_TOKEN), json!({"id": "other", "name": "其他"})).await;
    assert_eq!(status, 201, "{body}");
    let other = body["editor_key"]["key"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/sessions/{session}/analysis");
    let cases = [
        (path.as_str(), None, 401, "unauthorized"),
        (path.as_str(), Some("lrk_000000000000_00"), 401, "unauthorized"),
        (path.as_str(), Some(other.as_str()), 403, "forbidden"),
        ("/api/rooms/r1/analysis", Some(other.as_str()), 403, "forbidden"),
        ("/api/sessions/00000000-0000-0000-0000-000000000000/analysis", Some(key.as_str()), 404, "session_not_found"),
        ("/api/sessions/00000000-0000-0000-0000-000000000000/export", Some(key.as_str()), 404, "session_not_found"),
        ("/api/sessions/not-a-uuid/analysis", Some(key.as_str()), 400, "invalid_request"),
        ("/api/rooms/nowhere/analysis", Some(key.as_str()), 404, "room_not_found"),
        ("/api/rooms/r1/analysis?alpha=lots", Some(key.as_str()), 400, "invalid_request"),
        ("/api/rooms/r1/analysis?windw_ms=1", Some(key.as_str()), 400, "invalid_request"),
    ];
    for (path, key, status, code) in cases {
        let (got, body) = app.call("GET", path, key, None).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{path} with {key:?}: {body}");
    }
    // a session with no viewers at all has nothing to analyse: a clear 400, not a 500
    let (status, body) = app.call("GET", &path, Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, page) = app.call("GET", "/analysis", None, None).await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap_or_default().contains("Kaplan"));
    app.stop().await;
}

fn liveroom_binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
}

#[test]
fn the_analyze_command_reports_a_json_lines_file_and_refuses_one_that_is_not() {
    let dir = std::env::temp_dir().join(format!("liveroom-analyze-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("log.jsonl");
    let mut config = liveroom::analytics::simulate::SimConfig::two_arms(5, 400, 90_000.0, 130_000.0);
    config.live_streams = 0;
    let mut file = std::fs::File::create(&log).expect("create");
    liveroom::analytics::simulate::write_jsonl(&config, &mut file).expect("write");
    let json = dir.join("out.json");
    let curves = dir.join("curves.json");
    let output = liveroom_binary()
        .arg("analyze")
        .arg(&log)
        .args(["--json", json.to_str().unwrap_or_default(), "--curve-json", curves.to_str().unwrap_or_default()])
        .output()
        .expect("run liveroom analyze");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("B vs A"), "{stdout}");
    let written: Value = serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    assert_eq!(written["diagnostics"]["streams"], 4);
    let curves: Value = serde_json::from_slice(&std::fs::read(&curves).expect("curves written")).expect("json");
    assert!(curves["A"]["steps"].as_array().is_some_and(|s| !s.is_empty()));

    // a CSV file is not JSON Lines: a clear message and a non-zero exit
    let csv = dir.join("log.csv");
    std::fs::write(&csv, "ts,session,viewer,kind\n1,s,v,join\n").expect("write csv");
    let output = liveroom_binary().arg("analyze").arg(&csv).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not JSON Lines"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let output = liveroom_binary().arg("analyze").arg(dir.join("missing.jsonl")).output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
