//! The short-video script reads its product at the brand's current knowledge
//! version, over HTTP and on the command line: after a price change it states
//! the new price and never the old one.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

fn product(price: f64) -> Value {
    json!({
        "id": "steel-wok", "name": "不锈钢炒锅", "name_en": "steel wok", "category": "kitchen",
        "price": price, "stock": 12,
        "attributes": [{"name": "口径", "name_en": "diameter", "value": "32cm"}],
        "pitch": [{"facet": "highlights", "sentences": ["这口锅受热均匀，不粘不糊。"]}]
    })
}

/// The texts the script says and shows on screen.
fn script_texts(script: &Value) -> Vec<String> {
    script["cues"]
        .as_array()
        .unwrap_or_else(|| panic!("a script with cues: {script}"))
        .iter()
        .filter(|c| c["kind"] == "say" || c["kind"] == "fact")
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn after_a_price_change_the_video_script_states_the_new_price_and_not_the_old_one() {
    let db_url = fresh_database().await;
    let app = spawn_app_on(&db_url, false).await;
    let (status, body) =
        app.call_json("POST", "/api/brands", Some(ADMIN_TOKEN), json!({"id": "kitchen", "name": "厨房好物"})).await;
    assert_eq!(status, 201, "{body}");
    let editor = body["editor_key"]["key"].as_str().unwrap().to_string();
    let (status, body) = app.call_json("POST", "/api/brands/kitchen/products", Some(&editor), product(299.0)).await;
    assert_eq!(status, 201, "{body}");

    // given the first price, the script states it
    let (status, script) = app.call_json("POST", "/api/video-script", None, json!({"product_id": "steel-wok"})).await;
    assert_eq!(status, 200, "{script}");
    assert!(script_texts(&script).iter().any(|t| t.contains("299元")), "{script}");

    // when the brand changes the price
    let (status, body) =
        app.call_json("PUT", "/api/brands/kitchen/products/steel-wok", Some(&editor), product(199.0)).await;
    assert_eq!(status, 200, "{body}");

    // then the script states the new price, spoken and on screen, and never the old one
    for lang in ["zh", "en"] {
        let (status, script) =
            app.call_json("POST", "/api/video-script", None, json!({"product_id": "steel-wok", "lang": lang})).await;
        assert_eq!(status, 200, "{script}");
        let texts = script_texts(&script);
        let new_price = if lang == "zh" { "199元" } else { "199 yuan" };
        assert!(texts.iter().any(|t| t.contains(new_price)), "{lang}: {texts:?}");
        assert!(
            script["cues"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == "fact" && c["text"].as_str().unwrap().contains("199")),
            "{lang}: the new price is on screen: {script}"
        );
        assert!(!texts.iter().any(|t| t.contains("299")), "{lang}: the old price is gone: {texts:?}");
    }

    // the command line reads the same knowledge
    let out = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["video-script", "steel-wok"])
        .env("DATABASE_URL", &db_url)
        .env("LIVEROOM_LOG", "warn")
        .env_remove("LIVEROOM_LLM_BASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let script: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a last line of JSON");
    let texts = script_texts(&script);
    assert!(texts.iter().any(|t| t.contains("199元")), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("299")), "{stdout}");
    app.stop().await;
}
