//! The brand knowledge API: keys and roles, CRUD with paging, whole-catalogue
//! imports that are all-or-nothing, export round trips, the audit trail, and
//! a session that keeps the knowledge version it started with.

use liveroom::events::Event;
use serde_json::{Value, json};

use crate::helpers::*;

async fn create_brand(app: &TestApp, id: &str) -> String {
    let (status, body) =
        app.call_json("POST", "/api/brands", Some(ADMIN_TOKEN), json!({"id": id, "name": format!("{id} 品牌")})).await;
    assert_eq!(status, 201, "{body}");
    body["editor_key"]["key"].as_str().unwrap().to_string()
}

fn product(id: &str, price: f64) -> Value {
    json!({
        "id": id, "name": format!("{id} 锅"), "aliases": [format!("{id}锅")], "category": "kitchen",
        "price": price, "stock": 10,
        "attributes": [{"name": "容量", "value": "3L"}],
        "pitch": [{"facet": "highlights", "sentences": ["这口锅受热均匀。"]}],
        "faq": [{"questions": ["能上电磁炉吗"], "answer": "可以，燃气灶和电磁炉都能用。"}]
    })
}

#[actix_web::test]
async fn a_brand_key_reads_and_writes_only_its_own_brand_and_roles_are_separate() {
    let app = spawn_app_on(&fresh_database().await, false).await;
    let alpha = create_brand(&app, "alpha").await;
    let beta = create_brand(&app, "beta").await;
    let (status, body) =
        app.call_json("POST", "/api/brands/beta/products", Some(&beta), product("beta-pan", 99.0)).await;
    assert_eq!(status, 201, "{body}");

    // no key, a made-up key, a key of another brand
    let (status, body) = app.call("GET", "/api/brands/beta/products", None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = app.call("GET", "/api/brands/beta/products", Some("lrk_000000000000_00"), None).await;
    assert_eq!(status, 401);
    for (method, path) in [
        ("GET", "/api/brands/beta/products"),
        ("GET", "/api/brands/beta/products/beta-pan"),
        ("GET", "/api/brands/beta/export"),
    ] {
        let (status, body) = app.call(method, path, Some(&alpha), None).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {body}");
    }
    let (status, _) =
        app.call_json("PUT", "/api/brands/beta/products/beta-pan", Some(&alpha), product("beta-pan", 1.0)).await;
    assert_eq!(status, 403);
    let (status, _) = app.call("DELETE", "/api/brands/beta/products/beta-pan", Some(&alpha), None).await;
    assert_eq!(status, 403);
    let (_, body) = app.call("GET", "/api/brands/beta/products/beta-pan", Some(&beta), None).await;
    assert_eq!(body["price"], 99.0, "beta's product is untouched");
    // a brand key lists only its own brand; only the admin creates brands
    let (_, body) = app.call("GET", "/api/brands", Some(&alpha), None).await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["id"], "alpha");
    let (status, _) = app.call_json("POST", "/api/brands", Some(&alpha), json!({"id": "gamma", "name": "g"})).await;
    assert_eq!(status, 403);

    // an analyst key reads but cannot write; a revoked key stops working
    let (status, key) =
        app.call_json("POST", "/api/brands/beta/keys", Some(&beta), json!({"role": "analyst", "label": "bi"})).await;
    assert_eq!(status, 201, "{key}");
    let analyst = key["key"].as_str().unwrap();
    let (status, _) = app.call("GET", "/api/brands/beta/products", Some(analyst), None).await;
    assert_eq!(status, 200);
    let (status, body) =
        app.call_json("POST", "/api/brands/beta/products", Some(analyst), product("beta-wok", 1.0)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = app.call("GET", "/api/brands/beta/keys", Some(analyst), None).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call("DELETE", &format!("/api/brands/beta/keys/{}", key["key_id"].as_str().unwrap()), Some(&beta), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.call("GET", "/api/brands/beta/products", Some(analyst), None).await;
    assert_eq!(status, 401);
    // keys are stored hashed: the secret is nowhere in the table
    let secret = analyst.rsplit('_').next().unwrap();
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(api_keys::text, ' ') FROM api_keys").fetch_one(&app.pool).await.unwrap();
    assert!(!dump.contains(secret));
    app.stop().await;
}

#[actix_web::test]
async fn products_faq_and_claims_have_create_read_update_delete_and_paging() {
    let app = spawn_app_on(&fresh_database().await, false).await;
    let key = create_brand(&app, "shop").await;
    for (i, id) in ["p1", "p2", "p3"].iter().enumerate() {
        let (status, body) =
            app.call_json("POST", "/api/brands/shop/products", Some(&key), product(id, 10.0 + i as f64)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app.call_json("POST", "/api/brands/shop/products", Some(&key), product("p1", 1.0)).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    let (_, page1) = app.call("GET", "/api/brands/shop/products?limit=2", Some(&key), None).await;
    assert_eq!(
        (page1["total"].as_i64(), page1["items"].as_array().unwrap().len(), page1["next_offset"].as_i64()),
        (Some(3), 2, Some(2))
    );
    let (_, page2) = app.call("GET", "/api/brands/shop/products?limit=2&offset=2", Some(&key), None).await;
    assert_eq!(page2["items"][0]["id"], "p3");
    assert!(page2["next_offset"].is_null());
    let (status, body) = app.call("GET", "/api/brands/shop/products?limit=0", Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_request")));

    let (status, body) = app.call_json("PUT", "/api/brands/shop/products/p2", Some(&key), product("p2", 55.5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["product"]["price"], 55.5);
    let (status, body) = app
        .call_json(
            "PUT",
            "/api/brands/shop/products/p2",
            Some(&key),
            json!({"id": "p2", "name": "", "price": -1, "stock": 1}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_knowledge")));
    let fields: Vec<&str> = body["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"name") && fields.contains(&"price"), "{body}");

    let (status, body) = app
        .call_json(
            "POST",
            "/api/brands/shop/products/p2/faq",
            Some(&key),
            json!({"questions": ["保修多久"], "answer": "保修两年。"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let faq_id = body["faq"]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call_json(
            "PUT",
            &format!("/api/brands/shop/products/p2/faq/{faq_id}"),
            Some(&key),
            json!({"questions": ["保修多久"], "answer": "保修三年。"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, faq) = app.call("GET", &format!("/api/brands/shop/products/p2/faq/{faq_id}"), Some(&key), None).await;
    assert_eq!(faq["answer"], "保修三年。");
    let (status, _) = app.call("DELETE", &format!("/api/brands/shop/products/p2/faq/{faq_id}"), Some(&key), None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call("GET", &format!("/api/brands/shop/products/p2/faq/{faq_id}"), Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("faq_not_found")));

    let (status, body) = app
        .call_json(
            "POST",
            "/api/brands/shop/forbidden-claims",
            Some(&key),
            json!({"text": "包治百病", "reason": "medical claim"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let claim = body["claim"]["id"].as_str().unwrap().to_string();
    let (_, claims) = app.call("GET", "/api/brands/shop/forbidden-claims", Some(&key), None).await;
    assert_eq!(claims["items"][0]["text"], "包治百病");
    let (status, _) = app.call("DELETE", &format!("/api/brands/shop/forbidden-claims/{claim}"), Some(&key), None).await;
    assert_eq!(status, 200);

    let (status, _) = app.call("DELETE", "/api/brands/shop/products/p3", Some(&key), None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call("GET", "/api/brands/shop/products/p3", Some(&key), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("product_not_found")));
    app.stop().await;
}

#[actix_web::test]
async fn a_bad_import_changes_nothing_and_names_every_bad_row_and_exports_round_trip() {
    let app = spawn_app_on(&fresh_database().await, false).await;
    let key = create_brand(&app, "shop").await;
    let good = json!({"products": [product("p1", 10.0), product("p2", 20.0)]});
    let (status, body) = app.call_json("POST", "/api/brands/shop/import", Some(&key), good).await;
    assert_eq!(status, 200, "{body}");
    let (_, before) = app.call("GET", "/api/brands/shop/export", Some(&key), None).await;
    let (_, versions_before) = app.call("GET", "/api/brands/shop/versions", Some(&key), None).await;

    // JSON: products 1 and 3 are bad, product 2 would be a change
    let mut bad_price = product("p9", 1.0);
    bad_price["price"] = json!(-5);
    let bad =
        json!({"products": [product("p1", 11.0), bad_price, {"id": "bad id", "name": "x", "price": 1, "stock": -1}]});
    let (status, body) = app.call_json("POST", "/api/brands/shop/import", Some(&key), bad).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_knowledge")), "{body}");
    let rows: Vec<(i64, &str)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_i64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert!(rows.contains(&(1, "price")) && rows.contains(&(2, "id")) && rows.contains(&(2, "stock")), "{rows:?}");
    assert!(!rows.iter().any(|(r, _)| *r == 0), "the good product is not blamed: {rows:?}");

    // CSV: lines 3 and 4 are bad, line 2 would be a change
    let (_, csv) = app.call("GET", "/api/brands/shop/export?format=csv", Some(&key), None).await;
    let csv = csv.as_str().unwrap().to_string();
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    lines[1] = lines[1].replacen(",10,", ",12,", 1);
    lines[2] = lines[2].replacen(",20,", ",twenty,", 1);
    lines.push("p3,,,,,5,9,,,1,,,".into());
    let (status, body) = app
        .call(
            "POST",
            "/api/brands/shop/import?format=csv",
            Some(&key),
            Some(("text/csv", lines.join("\n").into_bytes())),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_knowledge")), "{body}");
    let rows: Vec<(i64, &str)> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_i64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert!(
        rows.contains(&(3, "price")) && rows.contains(&(4, "name")) && rows.contains(&(4, "promo_price")),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|(r, _)| *r == 2), "{rows:?}");

    // nothing changed: same export, no new version
    let (_, after) = app.call("GET", "/api/brands/shop/export", Some(&key), None).await;
    assert_eq!(after, before);
    let (_, versions_after) = app.call("GET", "/api/brands/shop/versions", Some(&key), None).await;
    assert_eq!(versions_after["total"], versions_before["total"]);

    // round trips: CSV export -> import -> export, JSON export -> replace import -> export
    let (status, _) =
        app.call("POST", "/api/brands/shop/import", Some(&key), Some(("text/csv", csv.clone().into_bytes()))).await;
    assert_eq!(status, 200);
    let (_, csv_again) = app.call("GET", "/api/brands/shop/export?format=csv", Some(&key), None).await;
    assert_eq!(csv_again.as_str().unwrap(), csv);
    let (status, body) =
        app.call_json("POST", "/api/brands/shop/import?mode=replace", Some(&key), before.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (_, json_again) = app.call("GET", "/api/brands/shop/export", Some(&key), None).await;
    assert_eq!(json_again, before);
    app.stop().await;
}

#[actix_web::test]
async fn every_change_is_audited_and_a_session_answers_from_the_version_it_started_with() {
    let app = spawn_app().await;
    let key = liveroom::auth::create_key(&app.pool, "testbrand", liveroom::auth::Role::Editor, "test", "test")
        .await
        .unwrap()
        .key;
    let session = app.open_room("pinned").await;
    let Event::SessionStarted { knowledge_version, .. } = app.events(session).await[0].event.clone() else {
        panic!("no session start")
    };

    // the price changes while the room is live
    let (_, mut cooker) = app.call("GET", "/api/brands/testbrand/products/cooker", Some(&key), None).await;
    cooker["price"] = json!(399);
    cooker["promo_price"] = json!(359);
    let (status, body) = app.call_json("PUT", "/api/brands/testbrand/products/cooker", Some(&key), cooker).await;
    assert_eq!(status, 200, "{body}");
    let new_version = body["knowledge_version"].as_i64().unwrap();
    assert!(new_version > knowledge_version);
    let (_, versions) = app.call("GET", "/api/brands/testbrand/versions?limit=1", Some(&key), None).await;
    let latest = &versions["items"][0];
    assert_eq!(latest["version"].as_i64(), Some(new_version));
    assert!(latest["changed_by"].as_str().unwrap().starts_with("key:"), "{latest}");
    let change = &latest["changes"][0];
    assert_eq!((change["op"].as_str(), change["id"].as_str()), (Some("update"), Some("cooker")));
    assert_eq!((change["before"]["price"].as_f64(), change["after"]["price"].as_f64()), (Some(299.0), Some(399.0)));

    // the live session still answers from its own version...
    let price_of = |events: &[liveroom::events::Envelope], seq: i64| {
        events.iter().find_map(|e| match &e.event {
            Event::KnowledgeRetrieved { comment_seq, entries, .. } if *comment_seq == seq => {
                Some(entries[0].answer.clone())
            }
            _ => None,
        })
    };
    let ask = |room: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    &format!("/api/rooms/{room}/events"),
                    json!({"type": "comment", "viewer_id": "v1", "text": "电饭煲多少钱"}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["seqs"][0].as_i64().unwrap()
        }
    };
    let seq = ask("pinned").await;
    let events = app.wait_for(session, |ev| price_of(ev, seq).is_some(), false).await;
    let answer = price_of(&events, seq).unwrap();
    assert!(answer.contains("199") && !answer.contains("359"), "{answer}");
    // ...and a session that starts now sees the new price
    let fresh = app.open_room("fresh").await;
    let seq = ask("fresh").await;
    let events = app.wait_for(fresh, |ev| price_of(ev, seq).is_some(), false).await;
    let answer = price_of(&events, seq).unwrap();
    assert!(answer.contains("359"), "{answer}");
    app.stop().await;
}
