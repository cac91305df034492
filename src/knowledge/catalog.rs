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

    /// Check the catalogue as a whole; every problem is listed.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let brands = self.all_brands();
        if brands.is_empty() {
            problems.push("catalogue names no brand".to_string());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, p) in self.products.iter().enumerate() {
            let at = format!("products[{i}] ({})", p.id);
            if p.id.is_empty() || !p.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                problems.push(format!("{at}: id must be non-empty [A-Za-z0-9_-]"));
            }
            if !ids.insert(p.id.as_str()) {
                problems.push(format!("{at}: duplicate product id"));
            }
            if p.name.trim().is_empty() {
                problems.push(format!("{at}: name is empty"));
            }
            if !p.price.is_finite() || p.price < 0.0 {
                problems.push(format!("{at}: price must be a non-negative number"));
            }
            if p.promo_price.is_some_and(|x| !x.is_finite() || x < 0.0) {
                problems.push(format!("{at}: promo_price must be a non-negative number"));
            }
            if p.stock < 0 {
                problems.push(format!("{at}: stock must be non-negative"));
            }
            if brands.len() > 1 || p.brand_id.is_some() {
                match &p.brand_id {
                    Some(b) if brands.iter().any(|x| &x.id == b) => {}
                    Some(b) => problems.push(format!("{at}: unknown brand_id {b:?}")),
                    None => problems.push(format!("{at}: brand_id missing in a several-brand catalogue")),
                }
            }
            for (j, f) in p.faq.iter().enumerate() {
                if f.questions.iter().all(|q| q.trim().is_empty()) || f.answer.trim().is_empty() {
                    problems.push(format!("{at}.faq[{j}]: needs a question and an answer"));
                }
            }
        }
        problems
    }
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
