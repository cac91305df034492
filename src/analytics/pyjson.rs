//! §1 "one JSON object per line", parsed exactly as Python's `json.loads`
//! parses it, since the reference implementation and the analysts' own
//! scripts read the same files that way: `NaN`, `Infinity` and `-Infinity`
//! are numbers, `1e400` is an infinite float, integers are exact at any size,
//! duplicate keys keep the last value, control characters inside strings and
//! invalid escapes fail the line, lone surrogates in `\u` escapes are kept.
//!
//! Only the six fields §1 names are kept; every other value is checked for
//! syntax and dropped, iteratively (no recursion limit on nesting).

/// A top-level field's value, reduced to what §1 needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    /// An integer literal, as its canonical text (Python's `str(int)`).
    Int(Vec<u8>),
    Float(f64),
    /// A string's decoded bytes (UTF-8, with lone surrogates as WTF-8).
    Str(Vec<u8>),
    /// An array or object.
    Compound,
}

impl Scalar {
    /// §1 "Cast to string" for ids: strings as they are, numbers as Python's
    /// `str()` prints them. Other types have no id.
    pub fn id_text(&self) -> Option<Vec<u8>> {
        match self {
            Scalar::Str(bytes) => Some(bytes.clone()),
            Scalar::Int(text) => Some(text.clone()),
            Scalar::Float(value) => Some(python_float_repr(*value).into_bytes()),
            Scalar::Null | Scalar::Bool(_) | Scalar::Compound => None,
        }
    }
}

/// The fields of one line that §1 reads (last occurrence of each key).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LineFields {
    pub ts: Option<Scalar>,
    pub session_id: Option<Scalar>,
    pub viewer_id: Option<Scalar>,
    pub kind: Option<Scalar>,
    pub variant: Option<Scalar>,
    pub amount: Option<Scalar>,
}

/// Why a line is not usable: it is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

/// Parse one line. `Ok(None)`: valid JSON that is not an object (it lacks
/// every field, so §1 rejects it too).
pub fn parse_line(line: &[u8]) -> Result<Option<LineFields>, NotJson> {
    let mut parser = Parser { bytes: line, position: 0, scratch: Vec::new() };
    parser.skip_whitespace();
    let result = if parser.peek() == Some(b'{') {
        Some(parser.top_level_object()?)
    } else {
        parser.skip_value()?;
        None
    };
    parser.skip_whitespace();
    if parser.position != line.len() {
        return Err(NotJson);
    }
    Ok(result)
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
    scratch: Vec<u8>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), NotJson> {
        if self.peek() != Some(byte) {
            return Err(NotJson);
        }
        self.position += 1;
        Ok(())
    }

    fn top_level_object(&mut self) -> Result<LineFields, NotJson> {
        let mut fields = LineFields::default();
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(fields);
        }
        loop {
            self.skip_whitespace();
            let mut key = std::mem::take(&mut self.scratch);
            key.clear();
            self.string_into(&mut key)?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let slot = match key.as_slice() {
                b"ts" => Some(&mut fields.ts),
                b"session_id" => Some(&mut fields.session_id),
                b"viewer_id" => Some(&mut fields.viewer_id),
                b"kind" => Some(&mut fields.kind),
                b"variant" => Some(&mut fields.variant),
                b"amount" => Some(&mut fields.amount),
                _ => None,
            };
            self.scratch = key;
            match slot {
                Some(slot) => *slot = Some(self.scalar()?),
                None => self.skip_value()?,
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(fields);
                }
                _ => return Err(NotJson),
            }
        }
    }

    fn scalar(&mut self) -> Result<Scalar, NotJson> {
        match self.peek() {
            Some(b'"') => {
                let mut text = Vec::new();
                self.string_into(&mut text)?;
                Ok(Scalar::Str(text))
            }
            Some(b'{' | b'[') => {
                self.skip_value()?;
                Ok(Scalar::Compound)
            }
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b'N') => self.literal(b"NaN", Scalar::Float(f64::NAN)),
            Some(b'I') => self.literal(b"Infinity", Scalar::Float(f64::INFINITY)),
            Some(b'-') if self.bytes[self.position..].starts_with(b"-Infinity") => {
                self.position += b"-Infinity".len();
                Ok(Scalar::Float(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(NotJson),
        }
    }

    fn literal(&mut self, word: &[u8], value: Scalar) -> Result<Scalar, NotJson> {
        if !self.bytes[self.position..].starts_with(word) {
            return Err(NotJson);
        }
        self.position += word.len();
        Ok(value)
    }

    /// Python's NUMBER_RE: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`.
    fn number(&mut self) -> Result<Scalar, NotJson> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek() {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.position += 1;
                }
            }
            _ => return Err(NotJson),
        }
        let integer_end = self.position;
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.bytes.get(self.position + 1), Some(b'0'..=b'9')) {
            is_float = true;
            self.position += 1;
            while let Some(b'0'..=b'9') = self.peek() {
                self.position += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            let mut look = self.position + 1;
            if let Some(b'+' | b'-') = self.bytes.get(look) {
                look += 1;
            }
            if matches!(self.bytes.get(look), Some(b'0'..=b'9')) {
                is_float = true;
                self.position = look;
                while let Some(b'0'..=b'9') = self.peek() {
                    self.position += 1;
                }
            }
        }
        let text = &self.bytes[start..self.position];
        if !is_float {
            debug_assert_eq!(integer_end, self.position);
            // Python's int has no negative zero
            return Ok(Scalar::Int(if text == b"-0" { b"0".to_vec() } else { text.to_vec() }));
        }
        // unwrap: the bytes matched the number grammar, which is ASCII
        let text = std::str::from_utf8(text).unwrap();
        // Rust rounds decimal text to the nearest double exactly as Python does
        text.parse::<f64>().map(Scalar::Float).map_err(|_| NotJson)
    }

    /// A JSON string into `out` (decoded, UTF-8; lone surrogates as WTF-8).
    fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), NotJson> {
        self.expect(b'"')?;
        loop {
            let run_start = self.position;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.position += 1;
            }
            let run = &self.bytes[run_start..self.position];
            if std::str::from_utf8(run).is_err() {
                return Err(NotJson);
            }
            out.extend_from_slice(run);
            match self.peek() {
                Some(b'"') => {
                    self.position += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.position += 1;
                    self.escape_into(out)?;
                }
                // a control character or the end of the line inside a string
                _ => return Err(NotJson),
            }
        }
    }

    fn escape_into(&mut self, out: &mut Vec<u8>) -> Result<(), NotJson> {
        let Some(byte) = self.peek() else { return Err(NotJson) };
        self.position += 1;
        let simple = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let first = self.hex4()?;
                let mut code = first;
                if (0xd800..0xdc00).contains(&first)
                    && self.bytes[self.position..].starts_with(b"\\u")
                    && let Some(second) = self.peek_hex4_at(self.position + 2)
                    && (0xdc00..0xe000).contains(&second)
                {
                    self.position += 6;
                    code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                }
                push_wtf8(out, code);
                return Ok(());
            }
            _ => return Err(NotJson),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, NotJson> {
        let value = self.peek_hex4_at(self.position).ok_or(NotJson)?;
        self.position += 4;
        Ok(value)
    }

    fn peek_hex4_at(&self, at: usize) -> Option<u32> {
        let digits = self.bytes.get(at..at + 4)?;
        let mut value = 0u32;
        for &digit in digits {
            value = value * 16 + (digit as char).to_digit(16)?;
        }
        Some(value)
    }

    /// Check the syntax of any value and drop it, without recursion.
    fn skip_value(&mut self) -> Result<(), NotJson> {
        // the open containers: b'{' or b'['
        let mut open: Vec<u8> = Vec::new();
        loop {
            self.skip_whitespace();
            // one value
            match self.peek() {
                Some(b'{') => {
                    self.position += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        self.position += 1;
                    } else {
                        open.push(b'{');
                        self.object_key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.position += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        self.position += 1;
                    } else {
                        open.push(b'[');
                        continue;
                    }
                }
                _ => {
                    self.scalar()?;
                }
            }
            // after a value: close containers or move to the next element
            loop {
                let Some(&container) = open.last() else { return Ok(()) };
                self.skip_whitespace();
                match (container, self.peek()) {
                    (_, Some(b',')) => {
                        self.position += 1;
                        if container == b'{' {
                            self.skip_whitespace();
                            self.object_key()?;
                        }
                        break;
                    }
                    (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                        self.position += 1;
                        open.pop();
                    }
                    _ => return Err(NotJson),
                }
            }
        }
    }

    /// `"key":` inside a skipped object.
    fn object_key(&mut self) -> Result<(), NotJson> {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        let result = self.string_into(&mut key);
        self.scratch = key;
        result?;
        self.skip_whitespace();
        self.expect(b':')
    }
}

/// UTF-8 of a code point, with surrogates encoded as if they were scalar
/// values (WTF-8), so a lone surrogate keeps an id distinct.
fn push_wtf8(out: &mut Vec<u8>, code: u32) {
    match code {
        0..=0x7f => out.push(code as u8),
        0x80..=0x7ff => {
            out.push(0xc0 | (code >> 6) as u8);
            out.push(0x80 | (code & 0x3f) as u8);
        }
        0x800..=0xffff => {
            out.push(0xe0 | (code >> 12) as u8);
            out.push(0x80 | ((code >> 6) & 0x3f) as u8);
            out.push(0x80 | (code & 0x3f) as u8);
        }
        _ => {
            out.push(0xf0 | (code >> 18) as u8);
            out.push(0x80 | ((code >> 12) & 0x3f) as u8);
            out.push(0x80 | ((code >> 6) & 0x3f) as u8);
            out.push(0x80 | (code & 0x3f) as u8);
        }
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation when the decimal exponent is in [-4, 16), else `1e+16` style.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "1.2345e-7"
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if value < 0.0 { "-" } else { "" };
    if !(-4..16).contains(&exponent) {
        let mut text = String::from(sign);
        text.push_str(&digits[..1]);
        if digits.len() > 1 {
            text.push('.');
            text.push_str(&digits[1..]);
        }
        text.push_str(&format!("e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs()));
        return text;
    }
    let point = exponent + 1; // digits before the decimal point
    let mut text = String::from(sign);
    if point <= 0 {
        text.push_str("0.");
        text.push_str(&"0".repeat((-point) as usize));
        text.push_str(&digits);
    } else if point as usize >= digits.len() {
        text.push_str(&digits);
        text.push_str(&"0".repeat(point as usize - digits.len()));
        text.push_str(".0");
    } else {
        text.push_str(&digits[..point as usize]);
        text.push('.');
        text.push_str(&digits[point as usize..]);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> LineFields {
        // unwrap: the test lines are valid objects
        parse_line(line.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn floats_print_as_python_repr_prints_them() {
        let cases = [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (1.5, "1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (-2.5e-7, "-2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "{value:e}");
        }
    }

    #[test]
    fn python_extensions_and_exact_integers_parse_like_json_loads() {
        let f = fields(r#"{"ts": NaN, "amount": -Infinity, "session_id": 12345678901234567890123, "viewer_id": -0}"#);
        assert!(matches!(f.ts, Some(Scalar::Float(v)) if v.is_nan()));
        assert_eq!(f.amount, Some(Scalar::Float(f64::NEG_INFINITY)));
        assert_eq!(f.session_id.unwrap().id_text().unwrap(), b"12345678901234567890123");
        assert_eq!(f.viewer_id.unwrap().id_text().unwrap(), b"0");
        let f = fields(r#"{"amount": 1e400, "viewer_id": 1E2, "kind": "join", "kind": "leave"}"#);
        assert_eq!(f.amount, Some(Scalar::Float(f64::INFINITY)));
        assert_eq!(f.viewer_id.unwrap().id_text().unwrap(), b"100.0");
        assert_eq!(f.kind, Some(Scalar::Str(b"leave".to_vec())), "the last duplicate key wins");
    }

    #[test]
    fn strings_decode_escapes_and_surrogate_pairs_and_refuse_control_characters() {
        let f = fields(r#"{"viewer_id": "a\u00e9\ud83d\ude00\n\"", "x": [1, {"y": [null, true]}], "kind": "\ud800"}"#);
        assert_eq!(f.viewer_id, Some(Scalar::Str("aé😀\n\"".as_bytes().to_vec())));
        assert_eq!(f.kind, Some(Scalar::Str(vec![0xed, 0xa0, 0x80])));
        assert_eq!(parse_line(b"{\"a\": \"tab\there\"}"), Err(NotJson));
        assert_eq!(parse_line(br#"{"a": "\x"}"#), Err(NotJson));
    }

    #[test]
    fn anything_that_is_not_one_json_value_fails() {
        for bad in
            ["", "   ", "{", "{\"a\" 1}", "{\"a\": 1,}", "[1,]", "{\"a\": 01}", "{} {}", "{\"a\": 1.}", "\u{feff}{}"]
        {
            assert_eq!(parse_line(bad.as_bytes()), Err(NotJson), "{bad:?}");
        }
        assert_eq!(parse_line(b"[1, 2, {\"ts\": 3}]"), Ok(None));
        assert_eq!(parse_line(b" 5 "), Ok(None));
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_line(deep.as_bytes()), Ok(Some(LineFields::default())));
    }
}
