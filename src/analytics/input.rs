//! §1 Input: JSON Lines in, compact events out, with §1's counters.
//!
//! The only I/O of the analytics module: a streaming reader over any
//! `BufRead`. Lines are split as Python's text mode splits them (universal
//! newlines: `\n`, `\r\n` and a lone `\r`). Ids are interned to dense u32
//! numbers so per-viewer state stays small.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufRead;

use super::pyjson::{self, Scalar};

/// §1 `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Join,
    Leave,
    Comment,
    Like,
    Gift,
    Cart,
    Purchase,
    StreamEnd,
}

impl Kind {
    /// §1's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Join => "join",
            Kind::Leave => "leave",
            Kind::Comment => "comment",
            Kind::Like => "like",
            Kind::Gift => "gift",
            Kind::Cart => "cart",
            Kind::Purchase => "purchase",
            Kind::StreamEnd => "stream_end",
        }
    }

    fn parse(text: &[u8]) -> Option<Kind> {
        Some(match text {
            b"join" => Kind::Join,
            b"leave" => Kind::Leave,
            b"comment" => Kind::Comment,
            b"like" => Kind::Like,
            b"gift" => Kind::Gift,
            b"cart" => Kind::Cart,
            b"purchase" => Kind::Purchase,
            b"stream_end" => Kind::StreamEnd,
            _ => return None,
        })
    }
}

/// "No viewer" (stream_end) and "no variant" (not an exposure).
pub const NONE: u32 = u32::MAX;

/// One accepted line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// §1 `int(ts)`, ms.
    pub ts: i64,
    /// The line's position among accepted lines: the §2.3 tie-breaker.
    pub line: u32,
    pub session: u32,
    /// `NONE` on `stream_end`.
    pub viewer: u32,
    pub kind: Kind,
    /// On `join` only: the interned variant, or `NONE` (empty, null, absent).
    pub variant: u32,
    /// On `purchase` only: the amount (0 when missing, non-numeric or non-finite).
    pub amount: f64,
}

/// §1's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InputCounters {
    /// Every line of the file.
    pub lines: u64,
    /// Lines that fail to parse, or lack (or mistype) `ts`, `kind`,
    /// `session_id`, or `viewer_id` where it is required.
    pub rejected_malformed_lines: u64,
    pub ignored_unknown_kind: u64,
    /// Purchases whose amount counted as 0 (missing, non-numeric, non-finite).
    pub purchase_amount_invalid: u64,
}

/// Interned strings: dense ids in first-seen order.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<[u8]>, u32, BuildHasherDefault<FxHasher>>,
    pub names: Vec<Box<[u8]>>,
}

impl Interner {
    pub fn intern(&mut self, text: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(text.into(), id);
        self.names.push(text.into());
        id
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name as text (lossy only for ids that held lone surrogates).
    pub fn name(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.names[id as usize]).into_owned()
    }
}

/// A small fast hasher for interning and pair keys (FxHash's mixing, then an avalanche).
#[derive(Default)]
pub struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            // unwrap: chunks_exact yields 8 bytes
            let word = u64::from_le_bytes(chunk.try_into().unwrap());
            self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.hash = (self.hash.rotate_left(5) ^ byte as u64).wrapping_mul(SEED);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.hash = (self.hash.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        // a final avalanche (murmur3's fmix64): the multiply alone leaves the low
        // bits, which pick hashbrown's buckets, depending on the low key bits only
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The accepted events of a log, in line order, with the id tables.
#[derive(Debug, Default)]
pub struct ParsedLog {
    pub events: Vec<Event>,
    pub sessions: Interner,
    pub viewers: Interner,
    pub variants: Interner,
    pub counters: InputCounters,
    /// Lines that were valid JSON (objects or not): a file with lines but
    /// none of them JSON is not JSON Lines at all.
    pub json_lines: u64,
}

/// What a line turned out to be.
enum LineOutcome {
    Accepted(Event),
    UnknownKind,
    Rejected { was_json: bool },
}

impl ParsedLog {
    /// Read §1 JSON Lines from `reader`; `progress` gets the bytes read so far.
    pub fn read(reader: impl BufRead, progress: &mut dyn FnMut(u64)) -> std::io::Result<ParsedLog> {
        let mut log = ParsedLog::default();
        let mut reader = reader;
        let mut buffer = Vec::with_capacity(256);
        let mut bytes_read = 0u64;
        loop {
            buffer.clear();
            let read = reader.read_until(b'\n', &mut buffer)?;
            if read == 0 {
                break;
            }
            bytes_read += read as u64;
            let content = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
            // universal newlines: a lone \r also ends a line; the \r of \r\n does not start one
            let mut pieces: Vec<&[u8]> = content.split(|&b| b == b'\r').collect();
            if pieces.len() > 1 && pieces.last().is_some_and(|p| p.is_empty()) {
                pieces.pop();
            }
            for piece in pieces {
                log.add_line(piece);
            }
            if log.counters.lines.is_multiple_of(65_536) {
                progress(bytes_read);
            }
        }
        progress(bytes_read);
        Ok(log)
    }

    /// Add one event that is already typed (synthetic logs skip the JSON).
    pub fn push_event(
        &mut self,
        ts: i64,
        session: &[u8],
        viewer: Option<&[u8]>,
        kind: Kind,
        variant: Option<&[u8]>,
        amount: f64,
    ) {
        self.counters.lines += 1;
        self.json_lines += 1;
        let event = Event {
            ts,
            line: self.events.len() as u32,
            session: self.sessions.intern(session),
            viewer: viewer.map_or(NONE, |v| self.viewers.intern(v)),
            kind,
            variant: variant.filter(|v| !v.is_empty()).map_or(NONE, |v| self.variants.intern(v)),
            amount,
        };
        self.events.push(event);
    }

    /// Parse and count one line.
    pub fn add_line(&mut self, line: &[u8]) {
        self.counters.lines += 1;
        match self.classify(line) {
            LineOutcome::Accepted(event) => {
                self.json_lines += 1;
                self.events.push(event);
            }
            LineOutcome::UnknownKind => {
                self.json_lines += 1;
                self.counters.ignored_unknown_kind += 1;
            }
            LineOutcome::Rejected { was_json } => {
                self.json_lines += was_json as u64;
                self.counters.rejected_malformed_lines += 1;
            }
        }
    }

    fn classify(&mut self, line: &[u8]) -> LineOutcome {
        let fields = match pyjson::parse_line(line) {
            Err(_) => return LineOutcome::Rejected { was_json: false },
            Ok(None) => return LineOutcome::Rejected { was_json: true },
            Ok(Some(fields)) => fields,
        };
        let rejected = LineOutcome::Rejected { was_json: true };
        // §1: ts, kind and session_id are required (null counts as missing)
        let (Some(ts), Some(kind), Some(session)) =
            (present(&fields.ts), present(&fields.kind), present(&fields.session_id))
        else {
            return rejected;
        };
        let Some(ts) = ts_milliseconds(ts) else { return rejected };
        let Some(session) = session.id_text() else { return rejected };
        // a kind that is not one of the eight (including a non-string kind) is ignored
        let kind = match kind {
            Scalar::Str(text) => match Kind::parse(text) {
                Some(kind) => kind,
                None => return LineOutcome::UnknownKind,
            },
            _ => return LineOutcome::UnknownKind,
        };
        let viewer = if kind == Kind::StreamEnd {
            NONE
        } else {
            let Some(viewer) = present(&fields.viewer_id).and_then(Scalar::id_text) else { return rejected };
            self.viewers.intern(&viewer)
        };
        let variant = match (kind, present(&fields.variant)) {
            (Kind::Join, Some(value)) => match value.id_text() {
                Some(text) if !text.is_empty() => self.variants.intern(&text),
                _ => NONE,
            },
            _ => NONE,
        };
        let amount = if kind == Kind::Purchase {
            match present(&fields.amount) {
                Some(Scalar::Float(value)) if value.is_finite() => *value,
                Some(Scalar::Int(text)) => int_text_to_f64(text).unwrap_or_else(|| {
                    self.counters.purchase_amount_invalid += 1;
                    0.0
                }),
                _ => {
                    self.counters.purchase_amount_invalid += 1;
                    0.0
                }
            }
        } else {
            0.0
        };
        let session = self.sessions.intern(&session);
        let line = self.events.len() as u32;
        LineOutcome::Accepted(Event { ts, line, session, viewer, kind, variant, amount })
    }
}

fn present(value: &Option<Scalar>) -> Option<&Scalar> {
    value.as_ref().filter(|v| **v != Scalar::Null)
}

/// §1 `int(ts)`: integers as they are, floats truncated toward zero; NaN,
/// infinities and values beyond i64 reject the line, as do other types.
fn ts_milliseconds(value: &Scalar) -> Option<i64> {
    match value {
        Scalar::Int(text) => std::str::from_utf8(text).ok()?.parse::<i64>().ok(),
        Scalar::Float(value) if value.is_finite() => {
            let truncated = value.trunc();
            // [-2^63, 2^63): i64::MIN as f64 is exact
            let limit = -(i64::MIN as f64);
            (-limit..limit).contains(&truncated).then_some(truncated as i64)
        }
        _ => None,
    }
}

/// An integer literal as the nearest double (Python's `float(int)`).
fn int_text_to_f64(text: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    value.is_finite().then_some(value)
}
