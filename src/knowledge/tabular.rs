//! The catalogue as CSV: one row per product, in run-of-show order.
//!
//! Columns: `id,name,name_en,aliases,category,price,promo_price,
//! promo_valid_from,promo_valid_until,stock,attributes,pitch,faq`.
//! `aliases` is `|`-separated; `attributes`, `pitch` and `faq` hold the same
//! JSON arrays as the JSON shape (an empty cell is an empty list). Export
//! writes exactly what import reads.

use super::catalog::{Problem, Product};

pub const COLUMNS: &[&str] = &[
    "id",
    "name",
    "name_en",
    "aliases",
    "category",
    "price",
    "promo_price",
    "promo_valid_from",
    "promo_valid_until",
    "stock",
    "attributes",
    "pitch",
    "faq",
];

/// Parse a whole CSV; every problem is listed with its line (the header is
/// line 1). Products are returned only when there is no problem at all.
pub fn parse(body: &[u8]) -> Result<Vec<Product>, Vec<Problem>> {
    let problem = |row: Option<usize>, field: &str, message: String| Problem {
        row,
        product_id: None,
        field: field.into(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(body);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|x| x.trim().trim_start_matches('\u{feff}').to_string()).collect(),
        Err(e) => return Err(vec![problem(Some(1), "header", format!("unreadable: {e}"))]),
    };
    let mut problems = Vec::new();
    for c in COLUMNS {
        if !header.iter().any(|h| h == c) {
            problems.push(problem(Some(1), "header", format!("missing column {c:?}")));
        }
    }
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            problems.push(problem(Some(1), "header", format!("unknown column {h:?} (columns: {})", COLUMNS.join(","))));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or(0);
    let mut products = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(Some(line), "row", format!("unreadable: {e}")));
                continue;
            }
        };
        let get = |name: &str| record.get(col(name)).unwrap_or("").trim().to_string();
        let id = get("id");
        let mut row_problems = Vec::new();
        let mut bad = |field: &str, message: String| {
            row_problems.push(Problem {
                row: Some(line),
                product_id: Some(id.clone()).filter(|s| !s.is_empty()),
                field: field.into(),
                message,
            })
        };
        let opt = |s: String| Some(s).filter(|s| !s.is_empty());
        let price = match get("price").parse::<f64>() {
            Ok(p) => p,
            Err(_) => {
                bad("price", format!("{:?} is not a number", get("price")));
                0.0
            }
        };
        let promo_price = match opt(get("promo_price")).map(|s| s.parse::<f64>().map_err(|_| s)).transpose() {
            Ok(p) => p,
            Err(s) => {
                bad("promo_price", format!("{s:?} is not a number"));
                None
            }
        };
        let stock = match get("stock").parse::<i32>() {
            Ok(s) => s,
            Err(_) => {
                bad("stock", format!("{:?} is not a whole number", get("stock")));
                0
            }
        };
        fn list<T: serde::de::DeserializeOwned>(cell: &str) -> Result<Vec<T>, String> {
            if cell.is_empty() {
                return Ok(Vec::new());
            }
            serde_json::from_str(cell).map_err(|e| format!("must be a JSON array of the JSON shape's items: {e}"))
        }
        let attributes = list(&get("attributes")).unwrap_or_else(|e| {
            bad("attributes", e);
            Vec::new()
        });
        let pitch = list(&get("pitch")).unwrap_or_else(|e| {
            bad("pitch", e);
            Vec::new()
        });
        let faq = list(&get("faq")).unwrap_or_else(|e| {
            bad("faq", e);
            Vec::new()
        });
        let p = Product {
            id: id.clone(),
            brand_id: None,
            name: get("name"),
            name_en: opt(get("name_en")),
            aliases: get("aliases").split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            category: get("category"),
            price,
            promo_price,
            promo_valid_from: opt(get("promo_valid_from")),
            promo_valid_until: opt(get("promo_valid_until")),
            stock,
            attributes,
            pitch,
            faq,
        };
        for mut x in p.validate() {
            x.row = Some(line);
            row_problems.push(x);
        }
        products.push(p);
        problems.extend(row_problems);
    }
    let mut seen = std::collections::HashMap::new();
    for (i, p) in products.iter().enumerate() {
        if let Some(first) = seen.insert(p.id.clone(), i) {
            problems.push(Problem {
                row: None,
                product_id: Some(p.id.clone()),
                field: "id".into(),
                message: format!("duplicate product id (also product {})", first + 1),
            });
        }
    }
    if problems.is_empty() { Ok(products) } else { Err(problems) }
}

pub fn write(products: &[Product]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    let num = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") };
    for p in products {
        w.write_record([
            p.id.clone(),
            p.name.clone(),
            p.name_en.clone().unwrap_or_default(),
            p.aliases.join("|"),
            p.category.clone(),
            num(p.price),
            p.promo_price.map(num).unwrap_or_default(),
            p.promo_valid_from.clone().unwrap_or_default(),
            p.promo_valid_until.clone().unwrap_or_default(),
            p.stock.to_string(),
            serde_json::to_string(&p.attributes)?,
            serde_json::to_string(&p.pitch)?,
            serde_json::to_string(&p.faq)?,
        ])?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Catalog;

    #[test]
    fn the_demo_catalogue_round_trips_through_csv() {
        let demo = Catalog::demo();
        let bytes = write(&demo.products).unwrap();
        let back = parse(&bytes).unwrap();
        assert_eq!(back, demo.products);
    }

    #[test]
    fn every_bad_row_is_named_with_its_line_and_field() {
        let csv = "id,name,name_en,aliases,category,price,promo_price,promo_valid_from,promo_valid_until,stock,attributes,pitch,faq\n\
                   ok-1,好杯子,,,,99,,,,10,,,\n\
                   bad 2,,,,,abc,,,,5,,,\n\
                   ok-3,锅,,,,50,60,,,-1,\"[1,2]\",,\"{\"\"a\"\":1}\"\n";
        let problems = parse(csv.as_bytes()).unwrap_err();
        let at = |line: usize, field: &str| problems.iter().any(|p| p.row == Some(line) && p.field.starts_with(field));
        assert!(at(3, "price") && at(3, "id") && at(3, "name"), "{problems:?}");
        assert!(at(4, "faq") && at(4, "promo_price") && at(4, "stock"), "{problems:?}");
        assert!(!problems.iter().any(|p| p.row == Some(2)), "{problems:?}");
    }

    #[test]
    fn a_missing_column_is_reported_against_the_header() {
        let problems = parse(b"id,name\nx,y\n").unwrap_err();
        assert!(problems.iter().all(|p| p.row == Some(1) && p.field == "header"));
        assert!(problems.iter().any(|p| p.message.contains("\"price\"")));
    }
}
