//! Grounding: every figure a generated sentence states must be a figure of
//! the knowledge entries the model was given. Pure functions.
//!
//! Figures are Arabic numbers (half or full width, with decimals and
//! thousands separators: 99, ¥99, 1,299, 9.9折, ９９元) and Chinese numerals
//! (九十九, 两百, 一千二百九十九, 九点九折, 三万). A single-character Chinese
//! numeral counts only next to a unit (两件, 八折, 一百元 is a run), and a
//! few idioms that are not quantities (一起, 一下, 十分...) are ignored.
//! English number words count too (ninety-nine, one hundred and twenty-nine,
//! nine point nine; a lone "one" only before a unit such as "dollar").

/// One figure found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub value: f64,
    pub raw: String,
}

const CN_UNITS: &str = "十百千万亿";

fn cn_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn is_cn_numeral(c: char) -> bool {
    cn_digit(c).is_some() || CN_UNITS.contains(c) || matches!(c, '拾' | '佰' | '仟')
}

/// Units after which a lone Chinese numeral is a quantity.
fn is_unit(c: char) -> bool {
    "元块毛角分折%％件个瓶支盒克斤码号岁天年月周倍袋包罐片台双套条份度升寸米秒小期档款色斤毫厘公只杯粒颗张本次位人"
        .contains(c)
}

/// Words made of numerals that are not quantities.
const IDIOMS: [&str; 22] = [
    "一起",
    "一下",
    "一点",
    "一样",
    "一定",
    "一直",
    "一般",
    "一些",
    "一边",
    "一切",
    "统一",
    "万一",
    "千万",
    "十分",
    "一一",
    "一口气",
    "一致",
    "一旦",
    "一向",
    "万无一失",
    "一流",
    "一键",
];

/// Value of a run of Chinese numerals (with 点 for decimals): 九十九 -> 99,
/// 一千二百九十九 -> 1299, 两万 -> 20000, 九点九 -> 9.9, 一二九 -> 129.
pub fn parse_cn(run: &str) -> Option<f64> {
    let (int_part, frac_part) = match run.split_once('点') {
        Some((i, f)) => (i, Some(f)),
        None => (run, None),
    };
    let int_value = if int_part.is_empty() {
        0.0
    } else if int_part.chars().all(|c| cn_digit(c).is_some()) {
        // digit by digit: 一二九 -> 129
        int_part.chars().fold(0.0, |acc, c| acc * 10.0 + f64::from(cn_digit(c).unwrap_or(0)))
    } else {
        let mut total = 0.0;
        let mut section = 0.0;
        let mut digit: Option<f64> = None;
        for c in int_part.chars() {
            if let Some(d) = cn_digit(c) {
                digit = Some(f64::from(d));
                continue;
            }
            let unit = match c {
                '十' | '拾' => 10.0,
                '百' | '佰' => 100.0,
                '千' | '仟' => 1000.0,
                '万' => 10_000.0,
                '亿' => 100_000_000.0,
                _ => return None,
            };
            if unit >= 10_000.0 {
                section = (section + digit.take().unwrap_or(0.0)) * unit;
                total += section;
                section = 0.0;
            } else {
                section += digit.take().unwrap_or(1.0) * unit;
            }
        }
        total + section + digit.unwrap_or(0.0)
    };
    let value = match frac_part {
        None => int_value,
        Some(f) => {
            if f.is_empty() || !f.chars().all(|c| cn_digit(c).is_some()) {
                return None;
            }
            let digits: String =
                f.chars().map(|c| char::from_digit(cn_digit(c).unwrap_or(0), 10).unwrap_or('0')).collect();
            format!("{}.{digits}", int_value as i64).parse().ok()?
        }
    };
    Some(value)
}

fn half_width(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '．' => '.',
        '，' => '，',
        _ => c,
    }
}

/// Every figure in `text`.
pub fn figures(text: &str) -> Vec<Figure> {
    let chars: Vec<char> = text.chars().map(half_width).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let start = i;
            let mut s = String::new();
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    s.push(d);
                } else if d == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit) && !s.contains('.') {
                    s.push('.');
                } else if d == ','
                    && chars.get(i + 1..i + 4).is_some_and(|t| t.iter().all(char::is_ascii_digit))
                    && !s.contains('.')
                {
                    // thousands separator: 1,299
                } else {
                    break;
                }
                i += 1;
            }
            if let Ok(value) = s.parse::<f64>() {
                out.push(Figure { value, raw: chars[start..i].iter().collect() });
            }
            continue;
        }
        if is_cn_numeral(c) {
            let start = i;
            while i < chars.len()
                && (is_cn_numeral(chars[i])
                    || (chars[i] == '点' && chars.get(i + 1).is_some_and(|n| cn_digit(*n).is_some()) && i > start))
            {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect();
            let next = chars.get(i).copied();
            let window: String = chars[start.saturating_sub(2)..(i + 2).min(chars.len())].iter().collect();
            let idiom = IDIOMS.iter().any(|w| window.contains(w) && w.chars().any(|wc| run.contains(wc)));
            let lone = run.chars().count() == 1;
            // a lone numeral counts next to a unit, except 一 as an article (一个, 一款)
            let counts = if idiom {
                false
            } else if lone {
                next.is_some_and(is_unit) && !(run == "一" && next.is_some_and(|n| "个款次位种".contains(n)))
            } else {
                true
            };
            if counts && let Some(value) = parse_cn(&run) {
                out.push(Figure { value, raw: run });
            }
            continue;
        }
        i += 1;
    }
    out.extend(english_figures(text));
    out
}

/// Value of an English number word: (value, kind) with kind 0 for a unit
/// (zero..nineteen), 1 for a ten, 2 for hundred, 3 for a scale.
fn en_word(w: &str) -> Option<(f64, u8)> {
    const SMALL: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    if let Some(i) = SMALL.iter().position(|x| *x == w) {
        return Some((i as f64, 0));
    }
    if let Some(i) = TENS.iter().position(|x| *x == w) {
        return Some(((i as f64 + 2.0) * 10.0, 1));
    }
    match w {
        "hundred" => Some((100.0, 2)),
        "thousand" => Some((1000.0, 3)),
        "million" => Some((1_000_000.0, 3)),
        _ => None,
    }
}

/// Words after which a lone "one" is a quantity, not an article or pronoun.
const EN_UNITS: [&str; 22] = [
    "dollar", "dollars", "buck", "bucks", "yuan", "rmb", "piece", "pieces", "pack", "packs", "set", "sets", "item",
    "items", "left", "percent", "kg", "gram", "grams", "year", "month", "day",
];

/// English number words (ninety-nine, one hundred and twenty-nine, nine
/// point nine, two thousand): each run is one figure. A lone "one" counts
/// only before a unit ("one dollar", not "this one").
fn english_figures(text: &str) -> Vec<Figure> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if en_word(words[i]).is_none() {
            i += 1;
            continue;
        }
        let start = i;
        let (mut total, mut current) = (0.0, 0.0);
        let mut decimals = String::new();
        while i < words.len() {
            let w = words[i];
            if let Some((v, kind)) = en_word(w) {
                match kind {
                    0 | 1 => current += v,
                    2 => current = f64::max(current, 1.0) * v,
                    _ => {
                        total += f64::max(current, 1.0) * v;
                        current = 0.0;
                    }
                }
                i += 1;
            } else if w == "and" && i > start && words.get(i + 1).and_then(|n| en_word(n)).is_some_and(|(_, k)| k <= 1)
            {
                i += 1;
            } else if w == "point" && words.get(i + 1).and_then(|n| en_word(n)).is_some_and(|(v, k)| k == 0 && v < 10.0)
            {
                i += 1;
                while let Some((v, 0)) = words.get(i).and_then(|n| en_word(n)) {
                    if v >= 10.0 {
                        break;
                    }
                    decimals.push(char::from_digit(v as u32, 10).unwrap_or('0'));
                    i += 1;
                }
                break;
            } else {
                break;
            }
        }
        let raw = words[start..i].join(" ");
        let lone_one = raw == "one" && !words.get(i).is_some_and(|n| EN_UNITS.contains(n));
        let mut value = total + current;
        if !decimals.is_empty() {
            value = format!("{}.{decimals}", value as i64).parse().unwrap_or(value);
        }
        if !lone_one {
            out.push(Figure { value, raw });
        }
    }
    out
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// The figures of `sentence` that no fact states. Text of `allowed` (the
/// viewer names the sentence addresses) is taken out before checking, so a
/// name like "小鱼99" is not a figure.
pub fn unsupported(sentence: &str, facts: &[String], allowed: &[String]) -> Vec<String> {
    let mut text = sentence.to_string();
    for a in allowed.iter().filter(|a| !a.is_empty()) {
        text = text.replace(a.as_str(), " ");
    }
    let known: Vec<f64> = facts.iter().flat_map(|f| figures(f)).map(|f| f.value).collect();
    figures(&text).into_iter().filter(|f| !known.iter().any(|k| same(*k, f.value))).map(|f| f.raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<f64> {
        figures(text).into_iter().map(|f| f.value).collect()
    }

    #[test]
    fn chinese_numerals_parse() {
        assert_eq!(parse_cn("九十九"), Some(99.0));
        assert_eq!(parse_cn("十五"), Some(15.0));
        assert_eq!(parse_cn("一千二百九十九"), Some(1299.0));
        assert_eq!(parse_cn("两万"), Some(20000.0));
        assert_eq!(parse_cn("三万五千"), Some(35000.0));
        assert_eq!(parse_cn("九点九"), Some(9.9));
        assert_eq!(parse_cn("一二九"), Some(129.0));
        assert_eq!(parse_cn("一百零八"), Some(108.0));
    }

    #[test]
    fn figures_in_every_notation_are_found() {
        assert_eq!(values("现在只要99元，原价¥169"), [99.0, 169.0]);
        assert_eq!(values("9.9折，满1,299减200"), [9.9, 1299.0, 200.0]);
        assert_eq!(values("到手价九十九元，打八折"), [99.0, 8.0]);
        assert_eq!(values("全场九点九折"), [9.9]);
        assert_eq!(values("只要９９元"), [99.0]);
        assert_eq!(values("It is $12.5 and 3 left."), [12.5, 3.0]);
        assert_eq!(values("买两件更划算"), [2.0]);
    }

    #[test]
    fn idioms_and_lone_numerals_without_units_are_not_figures() {
        assert!(values("我们一起看一下，十分好用，一定喜欢").is_empty());
        assert!(values("这是一款好锅，一个人也能用").is_empty());
    }

    #[test]
    fn english_number_words_are_figures() {
        assert_eq!(values("only ninety-nine dollars today"), [99.0]);
        assert_eq!(values("One hundred and twenty-nine yuan, two thousand sold"), [129.0, 2000.0]);
        assert_eq!(values("nine point nine off"), [9.9]);
        assert_eq!(values("just one dollar more"), [1.0]);
        assert!(values("this one is the one for you, and someone will love it").is_empty());
        let facts = vec!["Now 129 yuan, 860 in stock.".to_string()];
        assert!(unsupported("Only one hundred twenty-nine yuan!", &facts, &[]).is_empty());
        assert_eq!(unsupported("Only ninety-nine yuan!", &facts, &[]), ["ninety nine"]);
        assert_eq!(unsupported("Just three left!", &facts, &[]), ["three"]);
    }

    #[test]
    fn only_figures_of_the_facts_pass() {
        let facts = vec!["到手价129元，原价169元，现货860件".to_string()];
        assert!(unsupported("现在一百二十九元就能带走！", &facts, &[]).is_empty());
        assert!(unsupported("原价169，今天129。", &facts, &[]).is_empty());
        assert_eq!(unsupported("今天只要99元！", &facts, &[]), ["99"]);
        assert_eq!(unsupported("今天只要九十九元！", &facts, &[]), ["九十九"]);
        assert_eq!(unsupported("打9.9折", &facts, &[]), ["9.9"]);
        assert!(unsupported("小鱼99，到手价129元", &facts, &["小鱼99".into()]).is_empty());
    }
}
