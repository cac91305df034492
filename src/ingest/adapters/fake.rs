//! Local fake platform servers (127.0.0.1 only), driving the real clients
//! in tests and in `liveroom bench adapters`: a websocket server that plays
//! a script per connection (frames, pauses, garbage, a dropped connection),
//! answers the protocol's auth and heartbeats (optionally late), and
//! records what the client sent; and a small HTTP server for the bootstrap
//! and open-platform calls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::bilibili::packet;

/// One step of a connection's script.
#[derive(Debug, Clone)]
pub enum Action {
    Send(Message),
    /// Bytes that are no valid frame of the protocol.
    Garbage,
    Pause(Duration),
    /// Drop the TCP connection without a close handshake.
    Drop,
    /// A websocket close frame.
    Close,
    /// Stop answering heartbeats (the server went quiet).
    Silence,
}

/// How the fake answers the client's protocol packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Auth (op 7) -> auth reply, heartbeat (op 2) -> heartbeat reply.
    Bilibili,
    /// Heartbeat frames ("hb") -> a heartbeat frame back; acks recorded.
    Douyin,
    /// Plain JSON feeds: nothing to answer.
    Json,
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub flavor: Flavor,
    /// Delay of each heartbeat answer (late answers).
    pub heartbeat_delay: Duration,
    /// Run the script only after the client authenticated (Bilibili).
    pub wait_for_auth: bool,
}

impl FakeOptions {
    pub fn new(flavor: Flavor) -> FakeOptions {
        FakeOptions { flavor, heartbeat_delay: Duration::ZERO, wait_for_auth: flavor == Flavor::Bilibili }
    }
}

/// A running fake websocket server.
pub struct FakeServer {
    pub url: String,
    /// Every message clients sent, with its connection's number (from 1).
    pub received: Arc<Mutex<Vec<(u32, Message)>>>,
    pub connections: Arc<AtomicU32>,
    /// When each `Send` of a script went out: (connection, index in its script, time).
    pub sent: Arc<Mutex<Vec<(u32, usize, std::time::Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Serve `scripts[i]` to the i-th connection; later connections get
    /// the last script, or nothing when `repeat_last` is false.
    pub async fn start(
        scripts: Vec<Vec<Action>>,
        options: FakeOptions,
        repeat_last: bool,
    ) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/sub", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicU32::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (received_in, connections_in, sent_in) = (received.clone(), connections.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let scripts = Arc::new(scripts);
            while let Ok((tcp, _)) = listener.accept().await {
                let number = connections_in.fetch_add(1, Ordering::SeqCst) + 1;
                let index = number as usize - 1;
                let script = match scripts.get(index) {
                    Some(script) => script.clone(),
                    None if repeat_last => scripts.last().cloned().unwrap_or_default(),
                    None => Vec::new(),
                };
                let (received, options, sent) = (received_in.clone(), options.clone(), sent_in.clone());
                tokio::spawn(async move {
                    if let Ok(socket) = tokio_tungstenite::accept_async(tcp).await {
                        serve_connection(socket, number, script, options, received, sent).await;
                    }
                });
            }
        });
        Ok(FakeServer { url, received, connections, sent, task })
    }

    pub fn received(&self) -> Vec<(u32, Message)> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn connection_count(&self) -> u32 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_connection(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    number: u32,
    script: Vec<Action>,
    options: FakeOptions,
    received: Arc<Mutex<Vec<(u32, Message)>>>,
    sent: Arc<Mutex<Vec<(u32, usize, std::time::Instant)>>>,
) {
    let (sink, mut stream) = socket.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let silent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (auth_tx, auth_rx) = tokio::sync::oneshot::channel::<()>();
    let wait_for_auth = options.wait_for_auth;
    let reader = {
        let (sink, silent) = (sink.clone(), silent.clone());
        tokio::spawn(async move {
            let mut auth_tx = Some(auth_tx);
            while let Some(Ok(message)) = stream.next().await {
                if let Ok(mut r) = received.lock() {
                    r.push((number, message.clone()));
                }
                let Some(answer) = answer(&options, &message, &mut auth_tx) else { continue };
                if silent.load(Ordering::SeqCst) {
                    continue;
                }
                let (sink, delay) = (sink.clone(), options.heartbeat_delay);
                tokio::spawn(async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let _ = sink.lock().await.send(answer).await;
                });
            }
        })
    };
    if wait_for_auth {
        let _ = tokio::time::timeout(Duration::from_secs(5), auth_rx).await;
    }
    for (index, action) in script.into_iter().enumerate() {
        let result = match action {
            Action::Send(message) => {
                let result = sink.lock().await.send(message).await;
                if let Ok(mut sent) = sent.lock() {
                    sent.push((number, index, std::time::Instant::now()));
                }
                result
            }
            Action::Garbage => sink.lock().await.send(Message::binary(b"\x00\x01garbage\xff\xfe".to_vec())).await,
            Action::Pause(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Action::Silence => {
                silent.store(true, Ordering::SeqCst);
                Ok(())
            }
            Action::Drop => {
                reader.abort();
                // dropping both halves closes the TCP connection without a close frame
                return;
            }
            Action::Close => {
                let _ = sink.lock().await.send(Message::Close(None)).await;
                reader.abort();
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
    let _ = reader.await;
}

/// The protocol answer to a client message, if any.
fn answer(
    options: &FakeOptions,
    message: &Message,
    auth: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Option<Message> {
    let Message::Binary(bytes) = message else { return None };
    match options.flavor {
        Flavor::Bilibili => {
            let op = bytes.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))?;
            match op {
                packet::op::AUTH => {
                    // the script (which starts with the auth reply) runs once the auth packet is in
                    if let Some(tx) = auth.take() {
                        let _ = tx.send(());
                    }
                    None
                }
                packet::op::HEARTBEAT => Some(Message::binary(heartbeat_reply(bytes))),
                _ => None,
            }
        }
        Flavor::Douyin => {
            let frame = <super::douyin::proto::PushFrame as prost::Message>::decode(bytes.as_ref()).ok()?;
            (frame.payload_type == "hb").then(|| Message::binary(super::douyin::heartbeat_frame()))
        }
        Flavor::Json => None,
    }
}

/// A heartbeat reply with the client's body echoed after the popularity,
/// outside packet_len, as the real server does.
fn heartbeat_reply(client_packet: &[u8]) -> Vec<u8> {
    let mut reply = packet::encode(packet::op::HEARTBEAT_REPLY, packet::protover::JSON, 0, &1234u32.to_be_bytes());
    reply.extend_from_slice(client_packet.get(packet::HEADER_LEN..).unwrap_or(&[]));
    reply
}

/// The auth reply a Bilibili script starts with.
pub fn bilibili_auth_ok() -> Action {
    Action::Send(Message::binary(packet::encode(packet::op::AUTH_REPLY, packet::protover::JSON, 1, br#"{"code":0}"#)))
}

/// A Bilibili frame of business messages, brotli-compressed (protover 3).
pub fn bilibili_messages(bodies: &[serde_json::Value]) -> Message {
    let inner: Vec<u8> = bodies
        .iter()
        .flat_map(|b| packet::encode(packet::op::SEND_MSG_REPLY, packet::protover::JSON, 0, b.to_string().as_bytes()))
        .collect();
    Message::binary(packet::encode_compressed(packet::protover::BROTLI, &inner))
}

/// A `DANMU_MSG` in the documented layout.
pub fn danmaku(uid: u64, name: &str, text: &str, id: &str) -> serde_json::Value {
    let extra = serde_json::json!({"id_str": id, "content": text}).to_string();
    serde_json::json!({"cmd": "DANMU_MSG:4:0:2:2:2:0", "info": [
        [0, 1, 25, 16777215, 1_700_000_000_000u64, 0, 0, "", 0, 0, 0, "", 0, "{}", "{}", {"extra": extra, "mode": 0}],
        text, [uid, name, 0, 0, 0, 10000, 1, ""], [], [1, 0, 0, ">50000", 0], ["", ""], 0, 0, null,
        {"ts": 1_700_000_000, "ct": "00"}, 0, 0, null, null, 0, 7]})
}

/// One request the fake HTTP server received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&HttpRequest) -> (u16, serde_json::Value) + Send + Sync;

/// A minimal HTTP/1.1 server answering JSON, one request per connection.
pub struct FakeHttp {
    pub url: String,
    pub requests: Arc<Mutex<Vec<HttpRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeHttp {
    pub async fn start(
        handler: impl Fn(&HttpRequest) -> (u16, serde_json::Value) + Send + Sync + 'static,
    ) -> std::io::Result<FakeHttp> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (handler, log) = (handler.clone(), log.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut tcp).await else { return };
                    let (status, body) = handler(&request);
                    if let Ok(mut log) = log.lock() {
                        log.push(request);
                    }
                    let body = body.to_string();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(body.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        Ok(FakeHttp { url, requests, task })
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(tcp: &mut tokio::net::TcpStream) -> Option<HttpRequest> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = tcp.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = tcp.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(HttpRequest { method, target, headers, body })
}
