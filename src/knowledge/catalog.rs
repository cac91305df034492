//! The catalogue a brand configures: the import/export shape of its
//! product knowledge (JSON).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// A one-brand catalogue names its brand here...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Brand>,
    /// ...a several-brand one lists them, and each product names its brand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brands: Vec<Brand>,
    pub products: Vec<Product>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brand {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    /// Claims the host must never make for this brand (checked on every
    /// output sentence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_claims: Vec<ForbiddenClaim>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForbiddenClaim {
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The facets selling points are grouped by (`pitch[].facet`).
pub const FACETS: &[&str] = &["introduction", "highlights", "price_promotion", "guarantee", "usage", "audience"];

/// One problem found in a catalogue, product or import row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Index of the product in `products` (JSON) or line of the row (CSV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        if let Some(id) = &self.product_id {
            write!(f, "product {id:?}: ")?;
        }
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub brand_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub category: String,
    pub price: f64,
    #[serde(default)]
    pub promo_price: Option<f64>,
    /// When the promotional price starts and ends (RFC 3339); open-ended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promo_valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promo_valid_until: Option<String>,
    pub stock: i32,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default)]
    pub pitch: Vec<PitchSegment>,
    #[serde(default)]
    pub faq: Vec<Faq>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub value: String,
    #[serde(default)]
    pub value_en: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PitchSegment {
    pub facet: String,
    pub sentences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faq {
    #[serde(default)]
    pub id: Option<String>,
    pub questions: Vec<String>,
    pub answer: String,
    #[serde(default)]
    pub answer_en: Option<String>,
}

impl Catalog {
    pub fn all_brands(&self) -> Vec<&Brand> {
        self.brand.iter().chain(self.brands.iter()).collect()
    }

    /// The demo brand shipped with the binary.
    pub fn demo() -> Catalog {
        // unwrap: the file is part of the source and a unit test parses it
        serde_json::from_str(include_str!("demo_catalog.json")).unwrap()
    }

    /// Check the catalogue as a whole; every problem is listed, with the
    /// index of the product it is in.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let brands = self.all_brands();
        if brands.is_empty() {
            problems.push(Problem {
                row: None,
                product_id: None,
                field: "brand".into(),
                message: "the catalogue names no brand".into(),
            });
        }
        for b in &brands {
            problems.extend(b.validate());
        }
        let mut ids = std::collections::HashSet::new();
        let mut faq_ids = std::collections::HashSet::new();
        for (i, p) in self.products.iter().enumerate() {
            let mut found = p.validate();
            if !p.id.is_empty() && !ids.insert(p.id.as_str()) {
                found.push(Problem::of(p, "id", "duplicate product id"));
            }
            for f in &p.faq {
                if let Some(id) = &f.id
                    && !faq_ids.insert(id.as_str())
                {
                    found.push(Problem::of(p, "faq.id", &format!("duplicate FAQ id {id:?}")));
                }
            }
            if brands.len() > 1 || p.brand_id.is_some() {
                match &p.brand_id {
                    Some(b) if brands.iter().any(|x| &x.id == b) => {}
                    Some(b) => found.push(Problem::of(p, "brand_id", &format!("unknown brand_id {b:?}"))),
                    None => found.push(Problem::of(p, "brand_id", "missing in a several-brand catalogue")),
                }
            }
            problems.extend(found.into_iter().map(|mut x| {
                x.row = Some(i);
                x
            }));
        }
        problems
    }
}

/// A product or brand id: 1-64 characters of [A-Za-z0-9_-].
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Problem {
    pub fn of(p: &Product, field: &str, message: &str) -> Problem {
        Problem {
            row: None,
            product_id: Some(p.id.clone()).filter(|s| !s.is_empty()),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Brand {
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut push = |field: &str, message: String| {
            problems.push(Problem {
                row: None,
                product_id: None,
                field: format!("brand {:?}: {field}", self.id),
                message,
            })
        };
        if !valid_id(&self.id) {
            push("id", "must be 1-64 characters of [A-Za-z0-9_-]".into());
        }
        if self.name.trim().is_empty() {
            push("name", "is empty".into());
        }
        for (j, c) in self.forbidden_claims.iter().enumerate() {
            if c.text.trim().is_empty() {
                push(&format!("forbidden_claims[{j}].text"), "is empty".into());
            }
        }
        problems
    }
}

impl Product {
    /// Every problem of this product on its own.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut push = |field: &str, message: &str| problems.push(Problem::of(self, field, message));
        if !valid_id(&self.id) {
            push("id", "must be 1-64 characters of [A-Za-z0-9_-]");
        }
        if self.name.trim().is_empty() {
            push("name", "is empty");
        }
        if !self.price.is_finite() || self.price < 0.0 {
            push("price", "must be a non-negative number");
        }
        if let Some(promo) = self.promo_price {
            if !promo.is_finite() || promo < 0.0 {
                push("promo_price", "must be a non-negative number");
            } else if promo > self.price {
                push("promo_price", "is higher than the price");
            }
        }
        let from = parse_time(self.promo_valid_from.as_deref());
        let until = parse_time(self.promo_valid_until.as_deref());
        if from.is_err() {
            push("promo_valid_from", "must be an RFC 3339 time such as 2026-11-11T00:00:00+08:00");
        }
        if until.is_err() {
            push("promo_valid_until", "must be an RFC 3339 time such as 2026-11-12T00:00:00+08:00");
        }
        if let (Ok(Some(a)), Ok(Some(b))) = (from, until)
            && b <= a
        {
            push("promo_valid_until", "must be after promo_valid_from");
        }
        if (self.promo_valid_from.is_some() || self.promo_valid_until.is_some()) && self.promo_price.is_none() {
            push("promo_price", "a promotion period needs a promo_price");
        }
        if self.stock < 0 {
            push("stock", "must be non-negative");
        }
        for (j, a) in self.attributes.iter().enumerate() {
            if a.name.trim().is_empty() || a.value.trim().is_empty() {
                push(&format!("attributes[{j}]"), "needs a name and a value");
            }
        }
        for (j, seg) in self.pitch.iter().enumerate() {
            if seg.facet.trim().is_empty() {
                push(&format!("pitch[{j}].facet"), "is empty");
            }
            if seg.sentences.iter().any(|x| x.trim().is_empty()) {
                push(&format!("pitch[{j}].sentences"), "has an empty sentence");
            }
        }
        for (j, f) in self.faq.iter().enumerate() {
            if f.questions.iter().all(|q| q.trim().is_empty()) || f.answer.trim().is_empty() {
                push(&format!("faq[{j}]"), "needs a question and an answer");
            }
            if f.id.as_deref().is_some_and(|id| id.is_empty() || id.len() > 120) {
                push(&format!("faq[{j}].id"), "must be 1-120 characters");
            }
        }
        problems
    }
}

/// An optional RFC 3339 time.
pub fn parse_time(s: Option<&str>) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, chrono::ParseError> {
    s.map(chrono::DateTime::parse_from_rfc3339).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalogue_parses_and_validates() {
        let demo = Catalog::demo();
        assert!(demo.validate().is_empty(), "{:?}", demo.validate());
        assert!(demo.products.len() >= 3);
        assert!(demo.products.iter().all(|p| !p.pitch.is_empty() && !p.faq.is_empty()));
    }
}
