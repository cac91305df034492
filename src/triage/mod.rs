//! Comment triage: what a comment is (question, greeting, spam, ...). The
//! result enters the log as `CommentTriaged`, so replay never re-runs it.
//!
//! The built-in classifier is a keyword rule set for Chinese and English
//! danmaku; model-based classifiers plug in behind `Triager`.

use crate::events::{Intent, Lang};

pub mod classifier;
pub mod service;

pub use classifier::{OnnxTriager, Precision};
pub use service::{TriageService, Triaged};

pub trait Triager: Send + Sync {
    /// The classifier's name and version, recorded with every result.
    fn name(&self) -> &'static str;
    fn classify(&self, text: &str) -> (Intent, Lang);
}

/// Keyword rules, checked in priority order: the first rule that matches wins.
pub struct RuleTriager;

const RULES: &[(Intent, &[&str])] = &[
    (
        Intent::Spam,
        &[
            "加v",
            "加微",
            "vx",
            "微信",
            "私我",
            "福利群",
            "刷粉",
            "代购",
            "兼职",
            "http",
            "www.",
            ".com",
            "followers",
            "whatsapp",
            "telegram",
            "dm me",
        ],
    ),
    (Intent::Abuse, &["骗子", "垃圾", "滚", "傻", "智障", "脑残", "scam", "idiot", "stupid", "trash"]),
    (
        Intent::Complaint,
        &[
            "退款",
            "退货",
            "坏了",
            "投诉",
            "差评",
            "客服",
            "质量问题",
            "不回",
            "refund",
            "broken",
            "complain",
            "return it",
        ],
    ),
    (
        Intent::PriceAsk,
        &[
            "多少钱",
            "多少米",
            "价格",
            "价钱",
            "怎么卖",
            "优惠",
            "便宜",
            "到手价",
            "折扣",
            "券",
            "几块",
            "how much",
            "price",
            "cost",
            "discount",
            "coupon",
            "deal",
        ],
    ),
    (
        Intent::StockAsk,
        &[
            "有货",
            "库存",
            "现货",
            "还有吗",
            "还有没有",
            "还能拍",
            "卖完",
            "补货",
            "发货",
            "快递",
            "包邮",
            "几天到",
            "尺码",
            "码数",
            "in stock",
            "stock",
            "shipping",
            "ship",
            "deliver",
            "size",
        ],
    ),
    (
        Intent::PurchaseIntent,
        &[
            "拍了",
            "已拍",
            "下单",
            "买了",
            "怎么买",
            "链接",
            "上车",
            "想要",
            "bought",
            "ordered",
            "link",
            "add to cart",
            "want one",
        ],
    ),
    (
        Intent::ProductQuestion,
        &[
            "?",
            "？",
            "吗",
            "能不能",
            "可不可以",
            "可以",
            "怎么",
            "什么",
            "多久",
            "多大",
            "多重",
            "几个",
            "是不是",
            "有没有",
            "适合",
            "会不会",
            "能用",
            "how",
            "what",
            "does",
            "can it",
            "is it",
            "which",
            "will it",
        ],
    ),
    (
        Intent::Greeting,
        &[
            "你好",
            "主播好",
            "来了",
            "晚上好",
            "早上好",
            "中午好",
            "大家好",
            "报到",
            "报道",
            "hello",
            "hi ",
            "hey",
            "good evening",
        ],
    ),
    (
        Intent::Praise,
        &[
            "好看",
            "666",
            "喜欢",
            "爱了",
            "漂亮",
            "棒",
            "好用",
            "厉害",
            "赞",
            "nice",
            "love",
            "great",
            "awesome",
            "cool",
            "beautiful",
        ],
    ),
];

impl Triager for RuleTriager {
    fn name(&self) -> &'static str {
        "rules-v1"
    }

    fn classify(&self, text: &str) -> (Intent, Lang) {
        let lower = format!("{} ", text.to_lowercase());
        let rule = RULES.iter().find(|(_, words)| words.iter().any(|w| lower.contains(w))).map(|(intent, _)| *intent);
        let intent = match rule {
            // a plain question the keyword rules above did not place
            Some(Intent::Greeting | Intent::Praise) | None if is_question(&lower) => Intent::ProductQuestion,
            Some(intent) => intent,
            None => Intent::Other,
        };
        (intent, Lang::detect(text))
    }
}

const QUESTION_OPENERS: &[&str] = &[
    "is ", "are ", "do ", "does ", "can ", "could ", "how ", "what ", "which ", "will ", "should ", "where ", "when ",
    "why ",
];

/// English questions by their first word; Chinese A-not-A questions (重不重, 好不好用).
fn is_question(lower: &str) -> bool {
    if QUESTION_OPENERS.iter().any(|w| lower.trim_start().starts_with(w)) {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    chars.windows(3).any(|w| w[1] == '不' && w[0] == w[2] && w[0] != '不' && crate::events::is_cjk(w[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_danmaku_get_their_intents() {
        let cases = [
            ("这个多少米啊", Intent::PriceAsk),
            ("还有货吗", Intent::StockAsk),
            ("能煮粥吗", Intent::ProductQuestion),
            ("已拍", Intent::PurchaseIntent),
            ("主播好", Intent::Greeting),
            ("666", Intent::Praise),
            ("加V领福利", Intent::Spam),
            ("上次买的坏了要退款", Intent::Complaint),
            ("how much is it", Intent::PriceAsk),
            ("哈哈哈哈", Intent::Other),
            ("重不重", Intent::ProductQuestion),
            ("is the coating safe", Intent::ProductQuestion),
            ("不不不", Intent::Other),
        ];
        for (text, want) in cases {
            assert_eq!(RuleTriager.classify(text).0, want, "{text}");
        }
        assert_eq!(RuleTriager.classify("is it dishwasher safe").1, Lang::En);
    }
}
