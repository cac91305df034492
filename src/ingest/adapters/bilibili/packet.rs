//! Bilibili's danmaku packet: a 16-byte big-endian header `>I H H I I`
//! (packet_len, header_len = 16, protover, op, seq) and a body. One
//! websocket frame holds one or more packets; protover 2 (zlib) and 3
//! (brotli) bodies inflate to more packets.
//!
//! Quirk: in a heartbeat reply (op 3) the body is a u32 popularity, followed
//! by the client's heartbeat body echoed back, and `packet_len` does not
//! count the echo; the rest of the frame is therefore not parsed further.

use std::io::Read;

use crate::ingest::adapters::{DecodeError, MAX_INFLATED_BYTES};

pub const HEADER_LEN: usize = 16;

pub mod op {
    pub const HEARTBEAT: u32 = 2;
    pub const HEARTBEAT_REPLY: u32 = 3;
    pub const SEND_MSG_REPLY: u32 = 5;
    pub const AUTH: u32 = 7;
    pub const AUTH_REPLY: u32 = 8;
}

pub mod protover {
    pub const JSON: u16 = 0;
    pub const HEARTBEAT: u16 = 1;
    pub const ZLIB: u16 = 2;
    pub const BROTLI: u16 = 3;
}

/// Nested compressed packets deeper than this are refused.
const MAX_NESTING: usize = 3;

/// One packet, decompressed: what the client acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    HeartbeatReply {
        popularity: u32,
    },
    AuthReply {
        body: Vec<u8>,
    },
    /// A business message (op 5): its JSON body, not yet interpreted.
    Message {
        body: Vec<u8>,
    },
    /// Any other op, kept for the log.
    Other {
        op: u32,
    },
}

/// The packets of one frame, and the reasons of those that were bad (a bad
/// packet does not lose its good siblings).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Frame {
    pub packets: Vec<Packet>,
    pub errors: Vec<DecodeError>,
}

/// A packet as sent: header and body.
pub fn encode(op: u32, protover: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()) as u32;
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(HEADER_LEN as u16).to_be_bytes());
    out.extend_from_slice(&protover.to_be_bytes());
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The client's heartbeat packet (op 2, protover 1); its body is echoed back.
pub fn heartbeat() -> Vec<u8> {
    encode(op::HEARTBEAT, protover::HEARTBEAT, 1, b"[object Object]")
}

/// Split and decompress one websocket frame.
pub fn decode_frame(data: &[u8]) -> Frame {
    let mut frame = Frame::default();
    decode_into(data, 0, &mut frame);
    frame
}

fn decode_into(data: &[u8], depth: usize, frame: &mut Frame) {
    let mut offset = 0usize;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < HEADER_LEN {
            frame
                .errors
                .push(DecodeError::new(format!("truncated header: {} bytes left at offset {offset}", rest.len())));
            return;
        }
        let packet_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let header_len = u16::from_be_bytes([rest[4], rest[5]]) as usize;
        let ver = u16::from_be_bytes([rest[6], rest[7]]);
        let op = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if header_len < HEADER_LEN || header_len > packet_len.max(HEADER_LEN) {
            frame.errors.push(DecodeError::new(format!("bad header length {header_len} (packet length {packet_len})")));
            return;
        }
        if op == op::HEARTBEAT_REPLY {
            // the body is the popularity, then the echo packet_len leaves out
            let Some(body) = rest.get(header_len..header_len + 4) else {
                frame.errors.push(DecodeError::new("heartbeat reply without its 4-byte popularity"));
                return;
            };
            frame
                .packets
                .push(Packet::HeartbeatReply { popularity: u32::from_be_bytes([body[0], body[1], body[2], body[3]]) });
            return;
        }
        if packet_len < header_len || packet_len > rest.len() {
            frame.errors.push(DecodeError::new(format!(
                "packet length {packet_len} does not fit the {} bytes left",
                rest.len()
            )));
            return;
        }
        let body = &rest[header_len..packet_len];
        offset += packet_len;
        match ver {
            protover::ZLIB | protover::BROTLI => {
                if depth >= MAX_NESTING {
                    frame.errors.push(DecodeError::new("compressed packets nested too deep"));
                    continue;
                }
                match inflate(ver, body) {
                    Ok(inner) => decode_into(&inner, depth + 1, frame),
                    Err(e) => frame.errors.push(e),
                }
            }
            _ => frame.packets.push(match op {
                op::AUTH_REPLY => Packet::AuthReply { body: body.to_vec() },
                op::SEND_MSG_REPLY => Packet::Message { body: body.to_vec() },
                other => Packet::Other { op: other },
            }),
        }
    }
}

fn inflate(ver: u16, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let read = if ver == protover::ZLIB {
        flate2::read::ZlibDecoder::new(body).take(MAX_INFLATED_BYTES + 1).read_to_end(&mut out)
    } else {
        brotli::Decompressor::new(body, 4096).take(MAX_INFLATED_BYTES + 1).read_to_end(&mut out)
    };
    let name = if ver == protover::ZLIB { "zlib" } else { "brotli" };
    read.map_err(|e| DecodeError::new(format!("{name} body does not inflate: {e}")))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(DecodeError::new(format!("{name} body inflates past {MAX_INFLATED_BYTES} bytes")));
    }
    Ok(out)
}

/// Compress `inner` (concatenated packets) as a protover 2 or 3 body and
/// wrap it in an op 5 packet: what the server sends (for fakes and tests).
pub fn encode_compressed(ver: u16, inner: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let body = if ver == protover::ZLIB {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        // unwrap: writing to a Vec cannot fail
        z.write_all(inner).unwrap();
        z.finish().unwrap()
    } else {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            // unwrap: writing to a Vec cannot fail
            w.write_all(inner).unwrap();
        }
        out
    };
    encode(op::SEND_MSG_REPLY, ver, 0, &body)
}
