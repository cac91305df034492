//! Bilibili live danmaku, web protocol (FIELD §4.1): bootstrap through
//! `get_info` and the WBI-signed `getDanmuInfo` (unless `--ws-url` is
//! given), the auth packet right after the handshake (the server wants it
//! within 5 s), a heartbeat every 30 s, packets split and inflated
//! (`packet`), business messages as events (`commands`).

pub mod commands;
pub mod packet;
pub mod pb;
pub mod wbi;

use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use self::commands::{Command, CommandState};
use self::packet::Packet;
use crate::ingest::adapters::runner::{Endpoint, Protocol, Step};

pub const DEFAULT_API_URL: &str = "https://api.live.bilibili.com";
pub const DEFAULT_WEB_API_URL: &str = "https://api.bilibili.com";
pub const DEFAULT_HOST: &str = "broadcastlv.chat.bilibili.com";
pub const USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

#[derive(Debug, Clone, clap::Args)]
pub struct BilibiliArgs {
    /// The live room number (short or real id).
    #[arg(long)]
    pub platform_room: u64,
    /// Connect here instead of the bootstrapped host (then no HTTP calls are made).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// The live API (get_info, getDanmuInfo).
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// The main site API (nav: WBI keys and the logged-in uid).
    #[arg(long, default_value = DEFAULT_WEB_API_URL)]
    pub web_api_url: String,
    /// The uid to authenticate as (0: anonymous; names get masked after about 5 minutes).
    #[arg(long, default_value_t = 0)]
    pub uid: u64,
    /// The buvid3 cookie value sent in the auth packet.
    #[arg(long, default_value = "")]
    pub buvid: String,
    /// Cookie header for the HTTP calls and the websocket (SESSDATA=...; buvid3=...).
    #[arg(long, hide_env_values = true, env = "LIVEROOM_BILIBILI_COOKIE")]
    pub cookie: Option<String>,
    /// The danmaku token, when connecting with --ws-url.
    #[arg(long, default_value = "")]
    pub token: String,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat_secs: u64,
}

/// The Bilibili web protocol.
pub struct BilibiliWeb {
    args: BilibiliArgs,
    http: reqwest::Client,
    state: CommandState,
    /// Real room id, once resolved.
    real_room: Option<u64>,
    attempt: usize,
}

impl BilibiliWeb {
    pub fn new(args: BilibiliArgs) -> BilibiliWeb {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        BilibiliWeb { args, http, state: CommandState::default(), real_room: None, attempt: 0 }
    }

    /// The auth packet's body.
    pub fn auth_body(uid: u64, room: u64, buvid: &str, token: &str) -> Vec<u8> {
        json!({"uid": uid, "roomid": room, "protover": 3, "platform": "web", "type": 2, "buvid": buvid, "key": token})
            .to_string()
            .into_bytes()
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let mut request = self.http.get(url).header("referer", "https://live.bilibili.com/");
        if let Some(cookie) = &self.args.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.with_context(|| format!("GET {url}"))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
        response.json().await.with_context(|| format!("GET {url}: the answer is not JSON"))
    }

    /// get_info, WBI keys, getDanmuInfo: the websocket host and token.
    async fn bootstrap(&mut self) -> anyhow::Result<(String, String)> {
        let api = self.args.api_url.trim_end_matches('/').to_string();
        let info = self.get_json(&format!("{api}/room/v1/Room/get_info?room_id={}", self.args.platform_room)).await?;
        let room = info["data"]["room_id"].as_u64().context("get_info: no data.room_id")?;
        self.real_room = Some(room);
        let nav =
            self.get_json(&format!("{}/x/web-interface/nav", self.args.web_api_url.trim_end_matches('/'))).await?;
        if self.args.uid == 0
            && let Some(mid) = nav["data"]["mid"].as_u64()
        {
            self.args.uid = mid;
        }
        let img = nav["data"]["wbi_img"]["img_url"].as_str().unwrap_or("");
        let sub = nav["data"]["wbi_img"]["sub_url"].as_str().unwrap_or("");
        let mixin = wbi::mixin_key(&wbi::key_from_url(img), &wbi::key_from_url(sub));
        let wts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let query =
            wbi::sign(&[("id", room.to_string()), ("type", "0".into()), ("web_location", "444.8".into())], &mixin, wts);
        let danmu = self.get_json(&format!("{api}/xlive/web-room/v1/index/getDanmuInfo?{query}")).await?;
        if danmu["code"].as_i64() != Some(0) {
            // risk control (-352) and the like: the default host and no token still connect
            tracing::warn!(code = %danmu["code"], message = %danmu["message"], "bilibili: getDanmuInfo refused; using the default host");
            return Ok((format!("wss://{DEFAULT_HOST}:443/sub"), String::new()));
        }
        let token = danmu["data"]["token"].as_str().unwrap_or("").to_string();
        let hosts = danmu["data"]["host_list"].as_array().cloned().unwrap_or_default();
        let url = if hosts.is_empty() {
            format!("wss://{DEFAULT_HOST}:443/sub")
        } else {
            let host = &hosts[self.attempt % hosts.len()];
            let name = host["host"].as_str().unwrap_or(DEFAULT_HOST);
            // an API on plain http (a local server) hands out plain ws hosts
            if api.starts_with("http://") {
                format!("ws://{name}:{}/sub", host["ws_port"].as_u64().unwrap_or(2244))
            } else {
                format!("wss://{name}:{}/sub", host["wss_port"].as_u64().unwrap_or(443))
            }
        };
        Ok((url, token))
    }
}

impl Protocol for BilibiliWeb {
    fn name(&self) -> &'static str {
        "bilibili"
    }

    fn prepare(&mut self) -> BoxFuture<'_, anyhow::Result<Endpoint>> {
        Box::pin(async move {
            self.attempt += 1;
            let (url, token) = match &self.args.ws_url {
                Some(url) => (url.clone(), self.args.token.clone()),
                None => self.bootstrap().await?,
            };
            let room = self.real_room.unwrap_or(self.args.platform_room);
            let auth = BilibiliWeb::auth_body(self.args.uid, room, &self.args.buvid, &token);
            let mut headers = vec![("user-agent".to_string(), USER_AGENT.to_string())];
            if let Some(cookie) = &self.args.cookie {
                headers.push(("cookie".into(), cookie.clone()));
            }
            Ok(Endpoint {
                url,
                headers,
                opening: vec![Message::binary(packet::encode(packet::op::AUTH, packet::protover::HEARTBEAT, 1, &auth))],
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
        decode_frame(bytes, &mut self.state)
    }
}

/// One websocket frame as a step: the runner's half of the decoder.
pub fn decode_frame(bytes: &[u8], state: &mut CommandState) -> Step {
    decode_packets(bytes, |body| commands::decode_command(body, state))
}

/// A frame's packets as a step, with `command` interpreting business
/// messages (the web and the open platform share the packet layer).
pub fn decode_packets(
    bytes: &[u8],
    mut command: impl FnMut(&[u8]) -> Result<Command, crate::ingest::adapters::DecodeError>,
) -> Step {
    let frame = packet::decode_frame(bytes);
    let mut step = Step { errors: frame.errors.iter().map(|e| e.to_string()).collect(), ..Step::default() };
    for packet in frame.packets {
        match packet {
            Packet::HeartbeatReply { .. } => {}
            Packet::AuthReply { body } => {
                let code = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["code"].as_i64());
                match code {
                    Some(0) => step.authenticated = true,
                    Some(-101) => step.close = Some("auth refused: token error (-101)".into()),
                    other => step.close = Some(format!("auth refused (code {other:?})")),
                }
            }
            Packet::Message { body } => match command(&body) {
                Ok(Command::Events(events)) => step.events.extend(events),
                Ok(Command::Ignored(what)) => step.ignored.push(what),
                Err(e) => step.errors.push(e.to_string()),
            },
            Packet::Other { op } => step.ignored.push(format!("op {op}")),
        }
    }
    step
}

#[cfg(test)]
mod tests;
