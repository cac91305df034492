//! Streamed text -> complete sentences, as soon as each one ends.
//!
//! A sentence ends at Chinese or English end punctuation (。！？；…!?;),
//! a line break, or an English full stop followed by white space (so "9.9"
//! and "3.5kg" never split). A sentence longer than the cap is cut at its
//! last pause (，、,：:) before the cap, or at the cap.

/// Longest sentence, in characters, that goes to the renderer as one utterance.
pub const DEFAULT_CAP: usize = 60;

#[derive(Debug)]
pub struct SentenceSplitter {
    buf: String,
    cap: usize,
}

fn ends_sentence(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '…' | '!' | '?' | ';' | '\n')
}

fn is_pause(c: char) -> bool {
    matches!(c, '，' | '、' | ',' | '：' | ':')
}

/// Closing quotes and brackets that stay with the sentence they close.
fn is_closer(c: char) -> bool {
    matches!(c, '”' | '’' | '」' | '』' | '）' | ')' | '"' | '\'' | '…' | '！' | '？' | '!' | '?')
}

impl SentenceSplitter {
    pub fn new(cap: usize) -> SentenceSplitter {
        SentenceSplitter { buf: String::new(), cap: cap.max(8) }
    }

    /// Add streamed text; returns the sentences it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.sentence_end() {
            let rest = self.buf.split_off(end);
            let sentence = std::mem::replace(&mut self.buf, rest);
            push_trimmed(&mut out, &sentence);
        }
        out
    }

    /// The rest, once the stream is over.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        push_trimmed(&mut out, &rest);
        out.pop()
    }

    /// Byte offset where the first complete sentence of the buffer ends.
    fn sentence_end(&self) -> Option<usize> {
        let chars: Vec<(usize, char)> = self.buf.char_indices().collect();
        let mut count = 0;
        let mut last_pause = None;
        for (i, &(at, c)) in chars.iter().enumerate() {
            count += 1;
            let next = chars.get(i + 1).map(|&(_, n)| n);
            let boundary = if ends_sentence(c) {
                true
            } else if c == '.' {
                match next {
                    // the stream may still continue the number: wait
                    None => false,
                    Some(n) => n.is_whitespace(),
                }
            } else {
                false
            };
            if boundary {
                // keep closing quotes and repeated marks with the sentence
                let mut j = i + 1;
                while j < chars.len() && is_closer(chars[j].1) {
                    j += 1;
                }
                if j == chars.len() && j > i + 1 {
                    // a closer may still be arriving; fine to cut here too
                }
                let end = chars.get(j).map(|&(a, _)| a).unwrap_or(self.buf.len());
                if !self.buf[..end].trim().is_empty() {
                    return Some(end);
                }
            }
            if is_pause(c) {
                last_pause = Some(at + c.len_utf8());
            }
            if count >= self.cap {
                return Some(last_pause.unwrap_or(at + c.len_utf8()));
            }
        }
        None
    }
}

fn push_trimmed(out: &mut Vec<String>, s: &str) {
    let t = s.trim();
    if t.chars().any(|c| c.is_alphanumeric()) {
        out.push(t.to_string());
    }
}

/// Split a whole text at once.
pub fn split_all(text: &str, cap: usize) -> Vec<String> {
    let mut s = SentenceSplitter::new(cap);
    let mut out = s.push(text);
    out.extend(s.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(parts: &[&str]) -> Vec<String> {
        let mut s = SentenceSplitter::new(DEFAULT_CAP);
        let mut out = Vec::new();
        for p in parts {
            out.extend(s.push(p));
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn chinese_and_english_sentences_come_out_as_soon_as_they_end() {
        let mut s = SentenceSplitter::new(DEFAULT_CAP);
        assert!(s.push("小鱼你好").is_empty());
        assert_eq!(s.push("！这款现在9"), ["小鱼你好！"]);
        assert!(s.push(".9折").is_empty());
        assert_eq!(s.push("，到手价129元。Great"), ["这款现在9.9折，到手价129元。"]);
        assert_eq!(s.push(" question. It is 3.5"), ["Great question."]);
        assert_eq!(s.push(" kg!"), ["It is 3.5 kg!"]);
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn closing_quotes_stay_and_the_tail_is_flushed() {
        assert_eq!(stream(&["他说“好用！”然后", "走了"]), ["他说“好用！”", "然后走了"]);
        assert_eq!(stream(&["真的吗？！", "  "]), ["真的吗？！"]);
    }

    #[test]
    fn a_long_sentence_is_cut_at_a_pause_before_the_cap() {
        let long = format!("{}，{}。", "好".repeat(30), "棒".repeat(40));
        let out = stream(&[&long]);
        assert_eq!(out[0], format!("{}，", "好".repeat(30)));
        assert!(out.iter().all(|s| s.chars().count() <= DEFAULT_CAP), "{out:?}");
        assert_eq!(out.concat(), long);
    }
}
