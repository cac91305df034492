//! Deterministic text normalisation for danmaku: the comparison key that
//! floods, duplicates and question groups are found by, and the folding the
//! compliance rules match on. Pure functions of their input.

use crate::events::is_cjk;

/// Full-width ASCII to half-width, the ideographic space to a space, ASCII
/// letters to lowercase. One char in, one char out, so positions in the
/// folded text are positions in the original.
pub fn fold_char(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    c.to_ascii_lowercase()
}

pub fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// A char that carries meaning for comparison: a letter, a digit or an ideograph.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_cjk(c)
}

/// The comparison form of a comment: folded (full-width, case), bracketed
/// sticker codes (`[doge]`) removed, whitespace, punctuation, symbols and
/// emoji removed, runs of one character collapsed (`多少钱钱钱` = `多少钱`,
/// `666666` = `6`), and a text that is one phrase said several times reduced
/// to the phrase (`多少钱多少钱` = `多少钱`).
pub fn normalize(text: &str) -> String {
    let mut chars: Vec<char> = Vec::with_capacity(text.len());
    for c in strip_sticker_codes(text).chars().map(fold_char) {
        if !is_word_char(c) {
            continue;
        }
        if chars.last() == Some(&c) {
            continue;
        }
        chars.push(c);
    }
    let period = smallest_period(&chars);
    chars[..period].iter().collect()
}

/// Whether a comment says nothing in words: only emoji, stickers,
/// punctuation or whitespace.
pub fn is_emoji_only(text: &str) -> bool {
    !strip_sticker_codes(text).chars().any(is_word_char)
}

/// Platform sticker codes such as `[doge]`, `[比心]`: short bracketed words.
fn strip_sticker_codes(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('[') && !text.contains('【') {
        return std::borrow::Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let close = match chars[i] {
            '[' => Some(']'),
            '【' => Some('】'),
            _ => None,
        };
        if let Some(close) = close
            && let Some(len) = chars[i + 1..].iter().take(11).position(|c| *c == close)
            && len >= 1
        {
            i += len + 2;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The length of the shortest prefix that the whole text repeats.
fn smallest_period(chars: &[char]) -> usize {
    let n = chars.len();
    for p in 1..=n / 2 {
        if n.is_multiple_of(p) && chars.chunks(p).all(|chunk| chunk == &chars[..p]) {
            return p;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_question_normalise_to_one_key() {
        let key = normalize("多少钱");
        for variant in [
            "多少钱？",
            "多少钱？？？",
            "多 少 钱",
            "多少钱钱钱钱",
            "多少钱多少钱多少钱",
            "【doge】多少钱!!",
            "多少钱😂😂",
            "多少钱[doge]",
        ] {
            assert_eq!(normalize(variant), key, "{variant}");
        }
        assert_eq!(normalize("ＨＯＷ　ＭＵＣＨ？"), normalize("how much"));
        assert_eq!(normalize("How   MUCH!!!"), "howmuch");
        assert_eq!(normalize("666666"), "6");
        assert_ne!(normalize("能煮粥吗"), normalize("能煮饭吗"));
    }

    #[test]
    fn emoji_stickers_and_punctuation_alone_are_emoji_only() {
        for text in ["😂😂😂", "[doge][doge]", "！！！", "👍 👍", "【比心】", "  "] {
            assert!(is_emoji_only(text), "{text}");
        }
        for text in ["666", "好😂", "ok", "[doge]能用吗"] {
            assert!(!is_emoji_only(text), "{text}");
        }
    }

    #[test]
    fn folding_keeps_positions() {
        let text = "ＮＯ．１的锅";
        assert_eq!(fold(text), "no.1的锅");
        assert_eq!(fold(text).chars().count(), text.chars().count());
    }
}
