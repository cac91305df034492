//! What an edit may do, decided without the database: the problems of its
//! brand and products, whether it may touch the brand as it stands, which
//! products it deletes, which it writes at which position, and the audit
//! records of what changes. The transaction (`tx`) reads the brand's rows and
//! asks these functions; they never see a connection.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::{Change, Edit, StoreError};
use crate::knowledge::catalog::{Brand, ForbiddenClaim, Problem, Product};

/// Every problem of the edit on its own: the brand's and each product's
/// fields, duplicate product and FAQ ids, a product naming another brand;
/// each product's problems carry its row in `upserts`.
pub(super) fn problems_of(brand_id: &str, edit: &Edit) -> Vec<Problem> {
    let mut problems: Vec<Problem> = Vec::new();
    if let Some(b) = &edit.brand {
        problems.extend(b.validate());
    }
    let mut seen = HashSet::new();
    let mut faq_ids = HashSet::new();
    for (i, p) in edit.upserts.iter().enumerate() {
        let mut found = p.validate();
        if !seen.insert(p.id.as_str()) {
            found.push(Problem::of(p, "id", "duplicate product id"));
        }
        for f in p.faq.iter().filter_map(|f| f.id.as_deref()) {
            if !faq_ids.insert(f) {
                found.push(Problem::of(p, "faq.id", &format!("duplicate FAQ id {f:?}")));
            }
        }
        if p.brand_id.as_deref().is_some_and(|b| b != brand_id) {
            found.push(Problem::of(
                p,
                "brand_id",
                &format!("names brand {:?}, not {brand_id:?}", p.brand_id.as_deref().unwrap_or("")),
            ));
        }
        problems.extend(found.into_iter().map(|mut x| {
            x.row = Some(i);
            x
        }));
    }
    problems
}

/// The brand's row as the transaction found (and locked) it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BrandRow {
    pub(super) name: String,
    pub(super) name_en: Option<String>,
    pub(super) forbidden_claims: Value,
    pub(super) deleted: bool,
}

/// Whether the edit may go on with the brand as it stands: creating needs no
/// brand, anything else a live one, except that an edit giving the brand's
/// fields creates a missing brand (an import does).
pub(super) fn check_brand(brand_id: &str, current: Option<&BrandRow>, edit: &Edit) -> Result<(), StoreError> {
    match (current, edit.create_brand) {
        (Some(_), true) => Err(StoreError::Conflict(format!("brand {brand_id:?} exists already"))),
        (None, false) if edit.brand.is_none() => Err(StoreError::NotFound("brand", brand_id.into())),
        (Some(BrandRow { deleted: true, .. }), _) => Err(StoreError::NotFound("brand", brand_id.into())),
        _ => Ok(()),
    }
}

/// The audit record of the brand's fields becoming `brand` (with `claims`,
/// the forbidden claims as stored); `None` when nothing changes.
pub(super) fn brand_change(
    brand_id: &str,
    current: Option<&BrandRow>,
    brand: &Brand,
    claims: &Value,
) -> Option<Change> {
    let before = current.map(|b| json!({"name": b.name, "name_en": b.name_en, "forbidden_claims": b.forbidden_claims}));
    let after = json!({"name": brand.name, "name_en": brand.name_en, "forbidden_claims": claims});
    if before.as_ref() == Some(&after) {
        return None;
    }
    let op = if current.is_some() { "update" } else { "create" };
    Some(Change { op, kind: "brand", id: brand_id.into(), before, after: Some(after) })
}

/// The products the edit deletes: those it names, then with `replace_all`
/// every existing product it does not upsert (in id order). Each must exist.
pub(super) fn products_to_delete(edit: &Edit, existing: &HashSet<String>) -> Result<Vec<String>, StoreError> {
    let mut deletes: Vec<String> = edit.deletes.clone();
    if edit.replace_all {
        let keep: HashSet<&str> = edit.upserts.iter().map(|p| p.id.as_str()).collect();
        let mut others: Vec<String> = existing.iter().filter(|id| !keep.contains(id.as_str())).cloned().collect();
        others.sort();
        deletes.extend(others);
    }
    if let Some(missing) = deletes.iter().find(|id| !existing.contains(*id)) {
        return Err(StoreError::NotFound("product", missing.clone()));
    }
    Ok(deletes)
}

/// A create-only edit may not name a product that exists.
pub(super) fn check_create_only(edit: &Edit, existing: &HashSet<String>) -> Result<(), StoreError> {
    if edit.create_only
        && let Some(p) = edit.upserts.iter().find(|p| existing.contains(&p.id))
    {
        return Err(StoreError::Conflict(format!("product {:?} exists already", p.id)));
    }
    Ok(())
}

/// The brand's products as the edit finds them.
pub(super) struct ProductsBefore<'a> {
    /// The touched products (upserted or deleted) that exist, by id.
    pub(super) products: &'a HashMap<String, Product>,
    /// Their run-of-show positions.
    pub(super) positions: &'a HashMap<String, i32>,
    /// The brand's last position (-1 without products).
    pub(super) max_position: i32,
}

/// A product to write, at its place in the run of show.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PositionedProduct {
    pub(super) position: i32,
    pub(super) product: Product,
}

/// What the edit's upserts and deletes do.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProductPlan {
    /// New and changed products (an unchanged one gets no new entries).
    pub(super) writes: Vec<PositionedProduct>,
    /// Their audit records, then those of the deletes.
    pub(super) changes: Vec<Change>,
}

/// The products to write and the audit records: a changed product keeps its
/// position, a new one goes to the end of the run of show, and with
/// `replace_all` the upserts' order is the run of show.
pub(super) fn plan_products(edit: &Edit, deletes: &[String], before: &ProductsBefore) -> ProductPlan {
    let mut plan = ProductPlan::default();
    let mut next_position = before.max_position + 1;
    for (i, p) in edit.upserts.iter().enumerate() {
        let mut p = p.clone();
        p.brand_id = None;
        let prior = before.products.get(&p.id);
        if prior == Some(&p) {
            continue; // unchanged: no new entries
        }
        let position = if edit.replace_all {
            i as i32
        } else {
            before.positions.get(&p.id).copied().unwrap_or_else(|| {
                next_position += 1;
                next_position - 1
            })
        };
        plan.changes.push(Change {
            op: if prior.is_some() { "update" } else { "create" },
            kind: "product",
            id: p.id.clone(),
            before: prior.map(|x| serde_json::to_value(x).unwrap_or_default()),
            after: Some(serde_json::to_value(&p).unwrap_or_default()),
        });
        plan.writes.push(PositionedProduct { position, product: p });
    }
    for id in deletes {
        plan.changes.push(Change {
            op: "delete",
            kind: "product",
            id: id.clone(),
            before: before.products.get(id).map(|x| serde_json::to_value(x).unwrap_or_default()),
            after: None,
        });
    }
    plan
}

/// The version's summary when the edit gives none: counts by op and kind.
pub(super) fn summarise(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change".into();
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in changes {
        let k = format!("{} {}", c.op, c.kind);
        match counts.iter_mut().find(|(x, _)| *x == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
    }
    counts.into_iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
}

/// Claims get stable ids (`claim-1`, ...) where the brand gave none.
pub(super) fn with_claim_ids(claims: &[ForbiddenClaim]) -> Vec<ForbiddenClaim> {
    let mut used: HashSet<String> = claims.iter().filter_map(|c| c.id.clone()).collect();
    let mut n = 0;
    claims
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.id.is_none() {
                loop {
                    n += 1;
                    let id = format!("claim-{n}");
                    if used.insert(id.clone()) {
                        c.id = Some(id);
                        break;
                    }
                }
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, price: f64) -> Product {
        serde_json::from_value(json!({"id": id, "name": format!("{id} 锅"), "price": price, "stock": 3}))
            .expect("a valid product")
    }

    fn brand_row(deleted: bool) -> BrandRow {
        BrandRow { name: "品牌".into(), name_en: None, forbidden_claims: json!([]), deleted }
    }

    fn ids(xs: &[&str]) -> HashSet<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn duplicate_ids_and_products_of_another_brand_are_reported_with_their_rows() {
        let mut other = product("pan", 10.0);
        other.brand_id = Some("beta".into());
        let mut with_faq = product("wok", 10.0);
        with_faq.faq = serde_json::from_value(json!([
            {"id": "f1", "questions": ["能用电磁炉吗"], "answer": "能。"},
            {"id": "f1", "questions": ["重吗"], "answer": "不重。"}
        ]))
        .unwrap();
        let edit =
            Edit { upserts: vec![product("pot", 1.0), product("pot", 2.0), other, with_faq], ..Default::default() };
        let found: Vec<(Option<usize>, String)> =
            problems_of("alpha", &edit).into_iter().map(|p| (p.row, p.field)).collect();
        assert_eq!(
            found,
            vec![(Some(1), "id".to_string()), (Some(2), "brand_id".to_string()), (Some(3), "faq.id".to_string())]
        );
    }

    #[test]
    fn a_product_with_a_bad_field_and_a_brand_without_a_name_are_problems_but_a_clean_edit_has_none() {
        let brand = Brand { id: "alpha".into(), name: " ".into(), name_en: None, forbidden_claims: Vec::new() };
        let edit = Edit { brand: Some(brand), upserts: vec![product("pot", -1.0)], ..Default::default() };
        let fields: Vec<String> = problems_of("alpha", &edit).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, vec!["brand \"alpha\": name".to_string(), "price".to_string()]);
        assert!(problems_of("alpha", &Edit { upserts: vec![product("pot", 1.0)], ..Default::default() }).is_empty());
    }

    #[test]
    fn creating_needs_no_brand_and_anything_else_a_live_one_unless_the_edit_gives_the_brand() {
        let create = Edit { create_brand: true, ..Default::default() };
        let products = Edit { upserts: vec![product("pot", 1.0)], ..Default::default() };
        let brand = Brand { id: "alpha".into(), name: "A".into(), name_en: None, forbidden_claims: Vec::new() };
        let import = Edit { brand: Some(brand), ..Default::default() };
        assert!(check_brand("alpha", None, &create).is_ok());
        assert!(matches!(check_brand("alpha", Some(&brand_row(false)), &create), Err(StoreError::Conflict(_))));
        assert!(check_brand("alpha", Some(&brand_row(false)), &products).is_ok());
        assert!(matches!(check_brand("alpha", None, &products), Err(StoreError::NotFound("brand", _))));
        assert!(matches!(
            check_brand("alpha", Some(&brand_row(true)), &products),
            Err(StoreError::NotFound("brand", _))
        ));
        assert!(matches!(check_brand("alpha", Some(&brand_row(true)), &import), Err(StoreError::NotFound("brand", _))));
        assert!(check_brand("alpha", None, &import).is_ok(), "an import creates its brand");
    }

    #[test]
    fn a_brand_change_is_recorded_only_when_a_field_changes() {
        let same = Brand { id: "alpha".into(), name: "品牌".into(), name_en: None, forbidden_claims: Vec::new() };
        assert_eq!(brand_change("alpha", Some(&brand_row(false)), &same, &json!([])), None);
        let renamed = Brand { name: "新品牌".into(), ..same.clone() };
        let change = brand_change("alpha", Some(&brand_row(false)), &renamed, &json!([])).unwrap();
        assert_eq!(
            (change.op, change.kind, change.before.unwrap()["name"].clone()),
            ("update", "brand", json!("品牌"))
        );
        let created = brand_change("alpha", None, &same, &json!([])).unwrap();
        assert_eq!((created.op, created.before), ("create", None));
    }

    #[test]
    fn replace_all_deletes_every_product_it_does_not_name_and_deleting_a_missing_product_is_not_found() {
        let existing = ids(&["c", "a", "b"]);
        let replace = Edit { upserts: vec![product("b", 1.0)], replace_all: true, ..Default::default() };
        assert_eq!(products_to_delete(&replace, &existing).unwrap(), vec!["a".to_string(), "c".to_string()]);
        let named = Edit { deletes: vec!["b".into()], ..Default::default() };
        assert_eq!(products_to_delete(&named, &existing).unwrap(), vec!["b".to_string()]);
        let missing = Edit { deletes: vec!["b".into(), "zz".into()], ..Default::default() };
        assert!(
            matches!(products_to_delete(&missing, &existing), Err(StoreError::NotFound("product", id)) if id == "zz")
        );
    }

    #[test]
    fn a_create_only_edit_conflicts_with_an_existing_product() {
        let edit =
            Edit { upserts: vec![product("new", 1.0), product("a", 1.0)], create_only: true, ..Default::default() };
        assert!(matches!(check_create_only(&edit, &ids(&["a"])), Err(StoreError::Conflict(m)) if m.contains("\"a\"")));
        assert!(check_create_only(&edit, &ids(&["b"])).is_ok());
        assert!(check_create_only(&Edit { create_only: false, ..edit }, &ids(&["a"])).is_ok());
    }

    #[test]
    fn unchanged_products_are_not_rewritten_changed_ones_keep_their_place_and_new_ones_go_to_the_end() {
        let products = HashMap::from([("a".to_string(), product("a", 1.0)), ("b".to_string(), product("b", 1.0))]);
        let positions = HashMap::from([("a".to_string(), 0), ("b".to_string(), 1)]);
        let before = ProductsBefore { products: &products, positions: &positions, max_position: 4 };
        let mut tagged = product("a", 1.0);
        tagged.brand_id = Some("alpha".into()); // the brand id is not stored with the product
        let edit = Edit {
            upserts: vec![tagged, product("b", 2.0), product("n1", 1.0), product("n2", 1.0)],
            deletes: vec!["gone".into()],
            ..Default::default()
        };
        let plan = plan_products(&edit, &edit.deletes, &before);
        let writes: Vec<(&str, i32)> = plan.writes.iter().map(|w| (w.product.id.as_str(), w.position)).collect();
        assert_eq!(writes, vec![("b", 1), ("n1", 5), ("n2", 6)]);
        let changes: Vec<(&str, &str)> = plan.changes.iter().map(|c| (c.op, c.id.as_str())).collect();
        assert_eq!(changes, vec![("update", "b"), ("create", "n1"), ("create", "n2"), ("delete", "gone")]);
        assert_eq!(plan.changes[0].before.as_ref().unwrap()["price"], json!(1.0));
        assert_eq!(plan.changes[0].after.as_ref().unwrap()["price"], json!(2.0));
        // replace_all: the upserts' order is the run of show
        let edit =
            Edit { upserts: vec![product("n1", 1.0), product("b", 2.0)], replace_all: true, ..Default::default() };
        let plan = plan_products(&edit, &[], &before);
        let writes: Vec<(&str, i32)> = plan.writes.iter().map(|w| (w.product.id.as_str(), w.position)).collect();
        assert_eq!(writes, vec![("n1", 0), ("b", 1)]);
    }

    #[test]
    fn the_summary_counts_changes_by_op_and_kind_in_order_of_first_appearance() {
        let change = |op, kind| Change { op, kind, id: "x".into(), before: None, after: None };
        assert_eq!(summarise(&[]), "no change");
        let changes = [change("update", "brand"), change("create", "product"), change("create", "product")];
        assert_eq!(summarise(&changes), "update brand x1, create product x2");
    }

    #[test]
    fn claims_without_an_id_get_the_first_free_claim_number() {
        let claim = |id: Option<&str>, text: &str| ForbiddenClaim {
            id: id.map(str::to_string),
            text: text.into(),
            reason: None,
        };
        let with_ids = with_claim_ids(&[claim(None, "治病"), claim(Some("claim-2"), "减肥"), claim(None, "根治")]);
        let ids: Vec<&str> = with_ids.iter().map(|c| c.id.as_deref().unwrap()).collect();
        assert_eq!(ids, vec!["claim-1", "claim-2", "claim-3"]);
    }
}
