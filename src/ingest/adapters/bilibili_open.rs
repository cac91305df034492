//! Bilibili open platform (开放平台): the sanctioned way in. Signed calls
//! (`/v2/app/start` with the streamer's identity code -> `auth_body` and
//! `wss_link`; `/v2/app/heartbeat` every 20 s while a game id is open;
//! `/v2/app/end` when done), then the same packet layer as the web
//! protocol with `LIVE_OPEN_PLATFORM_*` commands. Viewers are `open_id`s;
//! every message has a `msg_id`. Money: gift `r_price` and guard `price` in
//! 1/1000 CNY (a guard's per unit), a super chat's `rmb` in CNY.
//!
//! Signature (blivedm `open_live.py` as the spec): the `x-bili-*` headers
//! (access key id, body MD5, HMAC-SHA256, nonce, version 1.0, timestamp),
//! sorted, as `key:value` lines joined by `\n`, HMAC-SHA256 with the access
//! key secret, hex, in `Authorization`.

use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use super::bilibili::commands::Command;
use super::bilibili::packet;
use super::runner::{Endpoint, Protocol, Step};
use super::{DecodeError, Platform, PlatformEvent, PlatformEventKind, PlatformViewer, StreamState};

pub const DEFAULT_API_URL: &str = "https://live-open.biliapi.com";

#[derive(Debug, Clone, clap::Args)]
pub struct BilibiliOpenArgs {
    /// The access key id of the open-platform developer.
    #[arg(long, env = "LIVEROOM_BILI_ACCESS_KEY_ID")]
    pub access_key_id: String,
    #[arg(long, env = "LIVEROOM_BILI_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: String,
    /// The project's app id.
    #[arg(long)]
    pub app_id: u64,
    /// The streamer's identity code (主播身份码).
    #[arg(long)]
    pub auth_code: String,
    /// The open platform API (start, heartbeat, end).
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// Connect here instead of the start call's wss_link (the start call is still made for the auth body).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// Seconds between app heartbeats.
    #[arg(long, default_value_t = 20)]
    pub app_heartbeat_secs: u64,
    /// Seconds between websocket heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat_secs: u64,
}

/// The headers of a signed call with `body`.
pub fn signed_headers(key_id: &str, secret: &str, body: &[u8], nonce: u64, timestamp: u64) -> Vec<(String, String)> {
    let mut headers = vec![
        ("x-bili-accesskeyid".to_string(), key_id.to_string()),
        ("x-bili-content-md5".to_string(), hex::encode(Md5::digest(body))),
        ("x-bili-signature-method".to_string(), "HMAC-SHA256".to_string()),
        ("x-bili-signature-nonce".to_string(), nonce.to_string()),
        ("x-bili-signature-version".to_string(), "1.0".to_string()),
        ("x-bili-timestamp".to_string(), timestamp.to_string()),
    ];
    headers.sort();
    headers.push(("authorization".to_string(), signature(secret, &headers)));
    headers
}

/// HMAC-SHA256 of the `x-bili-*` headers, hex.
pub fn signature(secret: &str, headers: &[(String, String)]) -> String {
    let mut signed: Vec<&(String, String)> = headers.iter().filter(|(k, _)| k.starts_with("x-bili-")).collect();
    signed.sort();
    let text = signed.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join("\n");
    // unwrap: HMAC takes a key of any length
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What `start` gave: the game, the auth body, the servers.
#[derive(Debug, Clone)]
struct Started {
    game_id: String,
    auth_body: String,
    links: Vec<String>,
}

pub struct BilibiliOpen {
    args: BilibiliOpenArgs,
    http: reqwest::Client,
    started: Option<Started>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    attempt: usize,
}

impl BilibiliOpen {
    pub fn new(args: BilibiliOpenArgs) -> BilibiliOpen {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        BilibiliOpen { args, http, started: None, heartbeat: None, attempt: 0 }
    }

    async fn start(&mut self) -> anyhow::Result<Started> {
        let body = json!({"code": self.args.auth_code, "app_id": self.args.app_id});
        let answer = call(&self.http, &self.args, "/v2/app/start", &body).await?;
        let data = &answer["data"];
        let started = Started {
            game_id: data["game_info"]["game_id"].as_str().unwrap_or("").to_string(),
            auth_body: data["websocket_info"]["auth_body"].as_str().context("start: no auth_body")?.to_string(),
            links: data["websocket_info"]["wss_link"]
                .as_array()
                .map(|links| links.iter().filter_map(|l| l.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        };
        tracing::info!(game_id = %started.game_id, room = %data["anchor_info"]["room_id"], "bilibili open platform: started");
        if let Some(old) = self.heartbeat.take() {
            old.abort();
        }
        if !started.game_id.is_empty() {
            let (http, args, game_id) = (self.http.clone(), self.args.clone(), started.game_id.clone());
            self.heartbeat = Some(tokio::spawn(async move {
                let period = Duration::from_secs(args.app_heartbeat_secs.max(1));
                loop {
                    tokio::time::sleep(period).await;
                    if let Err(e) = call(&http, &args, "/v2/app/heartbeat", &json!({"game_id": game_id})).await {
                        tracing::warn!(error = %format!("{e:#}"), "bilibili open platform: app heartbeat failed");
                    }
                }
            }));
        }
        Ok(started)
    }
}

/// One signed call; an answer with `code` other than 0 is an error.
async fn call(http: &reqwest::Client, args: &BilibiliOpenArgs, path: &str, body: &Value) -> anyhow::Result<Value> {
    let bytes = body.to_string().into_bytes();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let nonce: u64 = rand::random::<u32>() as u64;
    let url = format!("{}{path}", args.api_url.trim_end_matches('/'));
    let mut request = http.post(&url).header("content-type", "application/json").header("accept", "application/json");
    for (key, value) in signed_headers(&args.access_key_id, &args.access_key_secret, &bytes, nonce, now) {
        request = request.header(key, value);
    }
    let response = request.body(bytes).send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "POST {url}: HTTP {status}");
    let answer: Value = response.json().await.with_context(|| format!("POST {url}: the answer is not JSON"))?;
    anyhow::ensure!(
        answer["code"].as_i64() == Some(0),
        "POST {url}: code {} ({})",
        answer["code"],
        answer["message"].as_str().unwrap_or("")
    );
    Ok(answer)
}

impl Protocol for BilibiliOpen {
    fn name(&self) -> &'static str {
        "bilibili-open"
    }

    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>> {
        Box::pin(async move {
            self.attempt += 1;
            let started = match &self.started {
                Some(started) => started.clone(),
                None => {
                    let started = self.start().await?;
                    self.started = Some(started.clone());
                    started
                }
            };
            let url = match (&self.args.ws_url, started.links.len()) {
                (Some(url), _) => url.clone(),
                (None, 0) => anyhow::bail!("start gave no wss_link"),
                (None, n) => started.links[self.attempt % n].clone(),
            };
            let auth = packet::encode(packet::op::AUTH, packet::protover::HEARTBEAT, 1, started.auth_body.as_bytes());
            Ok(Endpoint {
                url,
                headers: vec![],
                opening: vec![Message::binary(auth)],
                heartbeat: Some((
                    Duration::from_secs(self.args.heartbeat_secs.max(1)),
                    Message::binary(packet::heartbeat()),
                )),
                awaits_auth: true,
            })
        })
    }

    fn decode(&mut self, message: &Message) -> Step {
        let Message::Binary(bytes) = message else {
            return Step { errors: vec!["bilibili sends binary frames; got another kind".into()], ..Step::default() };
        };
        let step = decode_frame(bytes);
        if step.close.is_some() {
            // a refused auth body is stale: start again on the next attempt
            self.started = None;
        }
        step
    }

    fn finish(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(heartbeat) = self.heartbeat.take() {
                heartbeat.abort();
            }
            if let Some(started) = self.started.take()
                && !started.game_id.is_empty()
            {
                let body = json!({"app_id": self.args.app_id, "game_id": started.game_id});
                match call(&self.http, &self.args, "/v2/app/end", &body).await {
                    Ok(_) => tracing::info!("bilibili open platform: ended"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "bilibili open platform: end failed"),
                }
            }
        })
    }
}

impl Drop for BilibiliOpen {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

/// One websocket frame of the open platform.
pub fn decode_frame(bytes: &[u8]) -> Step {
    super::bilibili::decode_packets(bytes, decode_command)
}

pub fn decode_command(body: &[u8]) -> Result<Command, DecodeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::new(format!("message body is not JSON: {e}")))?;
    let cmd = value.get("cmd").and_then(Value::as_str).ok_or_else(|| DecodeError::new("message without `cmd`"))?;
    let data = value.get("data").unwrap_or(&Value::Null);
    let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let number =
        |key: &str| data.get(key).and_then(Value::as_f64).filter(|x| x.is_finite() && *x >= 0.0).unwrap_or(0.0);
    let viewer_of = |user: &Value| -> Result<PlatformViewer, DecodeError> {
        let open_id = user.get("open_id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let open_id = open_id.ok_or_else(|| DecodeError::new(format!("{cmd} without open_id")))?;
        let name = user.get("uname").and_then(Value::as_str).unwrap_or("");
        Ok(PlatformViewer::new(&Platform::BilibiliOpen, open_id, name))
    };
    let msg_id = data.get("msg_id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let kind = match cmd.strip_prefix("LIVE_OPEN_PLATFORM_").unwrap_or(cmd) {
        "DM" => PlatformEventKind::Comment { text: text("msg") },
        "SEND_GIFT" => {
            let count = number("gift_num") as u64;
            let paid = data.get("paid").and_then(Value::as_bool).unwrap_or(false);
            let combo = data.get("combo_info").filter(|c| c.is_object()).map(|c| super::Combo {
                group: c.get("combo_id").and_then(Value::as_str).unwrap_or("").to_string(),
                total: c.get("combo_count").and_then(Value::as_u64).unwrap_or(0)
                    * c.get("combo_base_num").and_then(Value::as_u64).unwrap_or(1),
                ended: false,
            });
            PlatformEventKind::Gift {
                gift_id: data.get("gift_id").map(|v| v.to_string()).unwrap_or_default(),
                name: text("gift_name"),
                count,
                // r_price is what was paid per gift, in 1/1000 CNY; free gifts count 0
                value_cny: if paid { number("r_price") * count as f64 / 1000.0 } else { 0.0 },
                combo,
            }
        }
        "GUARD" => {
            let count = (number("guard_num") as u64).max(1);
            let viewer = viewer_of(data.get("user_info").unwrap_or(&Value::Null))?;
            let kind = PlatformEventKind::Guard {
                level: number("guard_level").min(255.0) as u8,
                count,
                value_cny: number("price") * count as f64 / 1000.0,
            };
            return Ok(one(msg_id, Some(viewer), kind));
        }
        "SUPER_CHAT" => PlatformEventKind::SuperChat { text: text("message"), value_cny: number("rmb") },
        "LIKE" => PlatformEventKind::Like { count: (number("like_count") as u64).max(1) },
        "LIVE_ROOM_ENTER" => PlatformEventKind::Join,
        "LIVE_START" => return Ok(one(msg_id, None, PlatformEventKind::Stream { state: StreamState::Live })),
        "LIVE_END" => return Ok(one(msg_id, None, PlatformEventKind::Stream { state: StreamState::Ended })),
        _ => return Ok(Command::Ignored(cmd.to_string())),
    };
    Ok(one(msg_id, Some(viewer_of(data)?), kind))
}

fn one(msg_id: Option<String>, viewer: Option<PlatformViewer>, kind: PlatformEventKind) -> Command {
    Command::Events(vec![PlatformEvent { platform: Platform::BilibiliOpen, msg_id, viewer, kind }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::adapters::bilibili::packet::{op, protover};

    fn frame(body: Value) -> Vec<u8> {
        packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, body.to_string().as_bytes())
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_the_sorted_x_bili_headers() {
        let headers = signed_headers("key", "secret", br#"{"code":"X","app_id":1}"#, 42, 1_700_000_000);
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-bili-accesskeyid",
                "x-bili-content-md5",
                "x-bili-signature-method",
                "x-bili-signature-nonce",
                "x-bili-signature-version",
                "x-bili-timestamp",
                "authorization"
            ]
        );
        assert_eq!(headers[1].1, hex::encode(Md5::digest(br#"{"code":"X","app_id":1}"#)));
        // recomputed independently: the string to sign, then HMAC-SHA256
        let text = format!(
            "x-bili-accesskeyid:key\nx-bili-content-md5:{}\nx-bili-signature-method:HMAC-SHA256\nx-bili-signature-nonce:42\nx-bili-signature-version:1.0\nx-bili-timestamp:1700000000",
            headers[1].1
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(text.as_bytes());
        assert_eq!(headers[6].1, hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn open_platform_commands_become_events_with_open_ids_and_msg_ids() {
        let cases = [
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_DM", "data": {"open_id": "o1", "uname": "a", "msg": "多少钱", "msg_id": "m1", "dm_type": 0}}),
                PlatformEventKind::Comment { text: "多少钱".into() },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_SEND_GIFT", "data": {"open_id": "o1", "uname": "a", "gift_id": 31036, "gift_name": "小花花",
                "gift_num": 3, "price": 100, "r_price": 100, "paid": true, "msg_id": "m2"}}),
                PlatformEventKind::Gift {
                    gift_id: "31036".into(),
                    name: "小花花".into(),
                    count: 3,
                    value_cny: 0.3,
                    combo: None,
                },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_SEND_GIFT", "data": {"open_id": "o1", "uname": "a", "gift_id": 1, "gift_name": "辣条",
                "gift_num": 5, "price": 100, "r_price": 100, "paid": false, "msg_id": "m3"}}),
                PlatformEventKind::Gift {
                    gift_id: "1".into(),
                    name: "辣条".into(),
                    count: 5,
                    value_cny: 0.0,
                    combo: None,
                },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_GUARD", "data": {"user_info": {"open_id": "o2", "uname": "b"}, "guard_level": 3,
                "guard_num": 1, "guard_unit": "月", "price": 198000, "msg_id": "m4"}}),
                PlatformEventKind::Guard { level: 3, count: 1, value_cny: 198.0 },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_SUPER_CHAT", "data": {"open_id": "o3", "uname": "c", "message": "能煮粥吗", "rmb": 30, "msg_id": "m5"}}),
                PlatformEventKind::SuperChat { text: "能煮粥吗".into(), value_cny: 30.0 },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_LIKE", "data": {"open_id": "o4", "uname": "d", "like_count": 12, "msg_id": "m6"}}),
                PlatformEventKind::Like { count: 12 },
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_LIVE_ROOM_ENTER", "data": {"open_id": "o5", "uname": "e", "msg_id": "m7"}}),
                PlatformEventKind::Join,
            ),
            (
                json!({"cmd": "LIVE_OPEN_PLATFORM_LIVE_END", "data": {"open_id": "anchor", "msg_id": "m8"}}),
                PlatformEventKind::Stream { state: StreamState::Ended },
            ),
        ];
        for (body, expected) in cases {
            let step = decode_frame(&frame(body.clone()));
            assert!(step.errors.is_empty(), "{body}: {:?}", step.errors);
            assert_eq!(step.events.len(), 1, "{body}");
            assert_eq!(step.events[0].kind, expected);
            assert!(step.events[0].msg_id.as_deref().is_some_and(|id| id.starts_with('m')));
        }
        let step = decode_frame(&frame(
            json!({"cmd": "LIVE_OPEN_PLATFORM_DM", "data": {"open_id": "o9", "uname": "x", "msg": "hi", "msg_id": "m9"}}),
        ));
        assert_eq!(step.events[0].viewer.as_ref().unwrap().id, "bilibili_open:o9");
        let missing = decode_frame(&frame(json!({"cmd": "LIVE_OPEN_PLATFORM_DM", "data": {"msg": "hi"}})));
        assert_eq!(missing.errors.len(), 1);
    }
}
