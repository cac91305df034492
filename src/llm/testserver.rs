//! A local OpenAI-compatible chat server that streams SSE with controllable
//! delays and failures: for tests and `liveroom bench replies`. It serves
//! `POST /v1/chat/completions` (stream or not) and answers each request
//! with the `Script` its behaviour returns for the request's JSON body.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How one request is answered.
#[derive(Debug, Clone)]
pub enum Script {
    /// Stream `tokens` as chunks: the first after `first_delay_ms`, each
    /// next after `token_delay_ms`; then end as `end` says.
    Stream { first_delay_ms: u64, token_delay_ms: u64, tokens: Vec<String>, end: End },
    /// Answer with this HTTP status and an OpenAI-style error body.
    Status { code: u16, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// finish_reason "stop", then `[DONE]`.
    Done,
    /// Close the connection without finishing (the endpoint went away).
    Drop,
    /// Send a chunk that is not JSON.
    Malformed,
    /// Stop sending, keep the connection open.
    Stall,
}

pub type Behavior = Arc<dyn Fn(&Value) -> Script + Send + Sync>;

pub struct TestServer {
    /// Base URL including `/v1`.
    pub base_url: String,
    behavior: Arc<Mutex<Behavior>>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Listen on a free 127.0.0.1 port.
    pub async fn start(behavior: Behavior) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let behavior = Arc::new(Mutex::new(behavior));
        let requests = Arc::new(AtomicUsize::new(0));
        let (b, r) = (behavior.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let (b, r) = (b.clone(), r.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, b, r).await;
                });
            }
        });
        Ok(TestServer { base_url: format!("http://127.0.0.1:{port}/v1"), behavior, requests, task })
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        // unwrap: the lock is never held across a panic
        *self.behavior.lock().unwrap() = behavior;
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: TcpStream,
    behavior: Arc<Mutex<Behavior>>,
    requests: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&buf[header_end..]).unwrap_or(Value::Null);
    let script = {
        let b = behavior.lock().map(|b| b.clone());
        match b {
            Ok(b) => b(&body),
            Err(_) => Script::Status { code: 500, message: "behaviour lock poisoned".into() },
        }
    };
    let streaming = body["stream"].as_bool().unwrap_or(false);
    match script {
        Script::Status { code, message } => {
            let body =
                json!({"error": {"message": message, "type": "test_error", "param": null, "code": null}}).to_string();
            let head = format!(
                "HTTP/1.1 {code} Test\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
        }
        Script::Stream { first_delay_ms, token_delay_ms, tokens, end } if streaming => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n")
                .await?;
            socket.flush().await?;
            tokio::time::sleep(Duration::from_millis(first_delay_ms)).await;
            for (i, t) in tokens.iter().enumerate() {
                if i > 0 && token_delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(token_delay_ms)).await;
                }
                socket.write_all(sse(&chunk(Some(t), None)).as_bytes()).await?;
                socket.flush().await?;
            }
            match end {
                End::Done => {
                    socket.write_all(sse(&chunk(None, Some("stop"))).as_bytes()).await?;
                    socket.write_all(b"data: [DONE]\n\n").await?;
                }
                End::Drop => {}
                End::Malformed => socket.write_all(b"data: {\"choices\": [{\"delta\": \n\n").await?,
                End::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
            }
            socket.flush().await?;
        }
        Script::Stream { first_delay_ms, tokens, .. } => {
            tokio::time::sleep(Duration::from_millis(first_delay_ms)).await;
            let body = json!({
                "id": "test", "object": "chat.completion", "created": 0, "model": "test-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": tokens.concat()}, "finish_reason": "stop"}]
            })
            .to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
        }
    }
    socket.shutdown().await
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => json!({"content": c}),
        None => json!({}),
    };
    json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
    .to_string()
}

fn sse(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// Split a text into stream tokens of `n` characters.
pub fn tokens(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// The request's user message, parsed (the data the prompt gives the model).
pub fn request_data(body: &Value) -> Value {
    let content = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    serde_json::from_str(content).unwrap_or(Value::Null)
}

/// A good host's answer made from the request's facts: a greeting, the
/// first fact word for word, and a call to order (three sentences).
pub fn grounded_answer(body: &Value) -> String {
    let data = request_data(body);
    let viewer = data["viewer"].as_str().unwrap_or("朋友");
    let fact = data["facts"][0]["text"].as_str().unwrap_or("这个我帮你问一下，稍后回复哦");
    let english = body["messages"][0]["content"].as_str().is_some_and(|s| s.starts_with("You are"));
    if english {
        format!("Hi {viewer}, great question! {fact} Tap the cart below to order!")
    } else {
        let fact = fact.trim_end_matches(['。', '！', '.']);
        format!("{viewer}你好呀！{fact}。喜欢的话点下方小黄车哦！")
    }
}

/// Answers from the facts, streamed with the given delays.
pub fn grounded(first_delay_ms: u64, token_delay_ms: u64) -> Behavior {
    Arc::new(move |body: &Value| Script::Stream {
        first_delay_ms,
        token_delay_ms,
        tokens: tokens(&grounded_answer(body), 3),
        end: End::Done,
    })
}

/// Answers from the facts; the first chunk, after `first_delay_ms`, holds the
/// whole first sentence (a server that sends its first tokens together), the
/// rest streams 3 characters per chunk.
pub fn grounded_first_sentence_whole(first_delay_ms: u64, token_delay_ms: u64) -> Behavior {
    Arc::new(move |body: &Value| {
        let answer = grounded_answer(body);
        let cut = answer
            .char_indices()
            .find(|(_, c)| matches!(c, '！' | '!' | '。' | '?' | '？'))
            .map_or(answer.len(), |(i, c)| i + c.len_utf8());
        let mut chunks = vec![answer[..cut].to_string()];
        chunks.extend(tokens(&answer[cut..], 3));
        Script::Stream { first_delay_ms, token_delay_ms, tokens: chunks, end: End::Done }
    })
}

/// An adversarial model: its answer states wrong figures (every number of
/// the facts changed, plus an invented price in Arabic and Chinese numerals
/// and an invented discount), between grounded sentences.
pub fn adversarial(first_delay_ms: u64, token_delay_ms: u64) -> Behavior {
    Arc::new(move |body: &Value| {
        let data = request_data(body);
        let fact = data["facts"][0]["text"].as_str().unwrap_or("");
        let mut wrong = String::new();
        let mut digits = String::new();
        for c in fact.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if !digits.is_empty() {
                let n: u64 = digits.parse().unwrap_or(0);
                wrong.push_str(&(n + 7).to_string());
                digits.clear();
            }
            if c != ' ' || !wrong.is_empty() {
                wrong.push(c);
            }
        }
        let viewer = data["viewer"].as_str().unwrap_or("朋友");
        let text = format!(
            "{viewer}你好呀！{}。今天只要99元！直播间专享九十九元，再打7.5折！库存只剩3件！",
            wrong.trim().trim_end_matches(['。', '！', '.'])
        );
        Script::Stream { first_delay_ms, token_delay_ms, tokens: tokens(&text, 3), end: End::Done }
    })
}

/// Every request fails the same way.
pub fn failing(script: Script) -> Behavior {
    Arc::new(move |_: &Value| script.clone())
}
