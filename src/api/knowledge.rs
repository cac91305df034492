//! The brand knowledge API. Every route needs `Authorization: Bearer <key>`
//! (a brand's API key) or the node's admin token.
//!
//! - `GET /api/brands` (paged), `POST /api/brands` (admin; returns the first editor key)
//! - `GET|PUT|DELETE /api/brands/{brand}` (DELETE: admin)
//! - `GET|POST /api/brands/{brand}/products`, `GET|PUT|DELETE /api/brands/{brand}/products/{product}`
//! - `GET|POST /api/brands/{brand}/products/{product}/faq`, `GET|PUT|DELETE .../faq/{faq}`
//! - `GET|POST /api/brands/{brand}/forbidden-claims`, `DELETE .../forbidden-claims/{claim}`
//! - `POST /api/brands/{brand}/import?format=json|csv&mode=merge|replace`, `GET /api/brands/{brand}/export?format=json|csv`
//! - `GET /api/brands/{brand}/versions` (paged): who changed what, when
//! - `GET|POST /api/brands/{brand}/keys`, `DELETE /api/brands/{brand}/keys/{key}`
//!
//! Reads need any role of the brand; writes need `editor`. Paged lists take
//! `limit` (1-500, default 50) and `offset`, and answer
//! `{items, total, limit, offset, next_offset}`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use super::ApiError;
use crate::auth::{Principal, Role};
use crate::knowledge::catalog::{Brand, Catalog, Faq, ForbiddenClaim, Problem, Product};
use crate::knowledge::store::{self, Edit};
use crate::room::Rooms;

/// The node's admin token, if configured.
#[derive(Clone, Default)]
pub struct AdminToken(pub Option<String>);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/brands", web::get().to(list_brands))
        .route("/api/brands", web::post().to(create_brand))
        .route("/api/brands/{brand}", web::get().to(get_brand))
        .route("/api/brands/{brand}", web::put().to(update_brand))
        .route("/api/brands/{brand}", web::delete().to(delete_brand))
        .route("/api/brands/{brand}/products", web::get().to(list_products))
        .route("/api/brands/{brand}/products", web::post().to(create_product))
        .route("/api/brands/{brand}/products/{product}", web::get().to(get_product))
        .route("/api/brands/{brand}/products/{product}", web::put().to(put_product))
        .route("/api/brands/{brand}/products/{product}", web::delete().to(delete_product))
        .route("/api/brands/{brand}/products/{product}/faq", web::get().to(list_faq))
        .route("/api/brands/{brand}/products/{product}/faq", web::post().to(create_faq))
        .route("/api/brands/{brand}/products/{product}/faq/{faq}", web::get().to(get_faq))
        .route("/api/brands/{brand}/products/{product}/faq/{faq}", web::put().to(put_faq))
        .route("/api/brands/{brand}/products/{product}/faq/{faq}", web::delete().to(delete_faq))
        .route("/api/brands/{brand}/forbidden-claims", web::get().to(list_claims))
        .route("/api/brands/{brand}/forbidden-claims", web::post().to(create_claim))
        .route("/api/brands/{brand}/forbidden-claims/{claim}", web::delete().to(delete_claim))
        .route("/api/brands/{brand}/import", web::post().to(import))
        .route("/api/brands/{brand}/export", web::get().to(export))
        .route("/api/brands/{brand}/versions", web::get().to(versions))
        .route("/api/brands/{brand}/keys", web::get().to(list_keys))
        .route("/api/brands/{brand}/keys", web::post().to(create_key))
        .route("/api/brands/{brand}/keys/{key}", web::delete().to(revoke_key));
}

type RoomsData = web::Data<Arc<Rooms>>;

fn pool(rooms: &RoomsData) -> &PgPool {
    &rooms.deps().pool
}

/// The caller, from `Authorization: Bearer ...` (or `X-Api-Key`): a brand key or the admin token.
pub(super) async fn principal(req: &HttpRequest, pool: &PgPool) -> Result<Principal, ApiError> {
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .or_else(|| req.headers().get("x-api-key").and_then(|h| h.to_str().ok()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("an API key is needed: Authorization: Bearer <key>".into()))?;
    let admin = req.app_data::<web::Data<AdminToken>>().and_then(|t| t.0.clone());
    if crate::auth::admin_token_matches(admin.as_deref(), presented) {
        return Ok(Principal::Admin);
    }
    crate::auth::verify_key(pool, presented)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))
}

#[derive(Clone, Copy, PartialEq)]
enum Access {
    Read,
    Write,
}

/// The caller, if it may `access` `brand_id`'s knowledge.
async fn authorize(req: &HttpRequest, pool: &PgPool, brand_id: &str, access: Access) -> Result<Principal, ApiError> {
    let who = principal(req, pool).await?;
    match &who {
        Principal::Admin => Ok(who),
        Principal::Key { brand_id: own, role, .. } => {
            if own != brand_id {
                return Err(ApiError::Forbidden(format!("this key belongs to brand {own:?}, not {brand_id:?}")));
            }
            if access == Access::Write && *role != Role::Editor {
                return Err(ApiError::Forbidden(format!(
                    "a {} key cannot change knowledge; an editor key can",
                    role.as_str()
                )));
            }
            Ok(who)
        }
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest(format!("bad {what}: {e}")))
}

/// `limit` and `offset` of a paged list.
#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl PageQuery {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=500).contains(&limit) || offset < 0 {
            return Err(ApiError::InvalidRequest("limit must be 1-500 and offset non-negative".into()));
        }
        Ok((limit, offset))
    }
}

fn paged<T: serde::Serialize>(page: store::Page<T>, limit: i64, offset: i64) -> HttpResponse {
    let store::Page { items, total } = page;
    let next = (offset + (items.len() as i64) < total).then_some(offset + items.len() as i64);
    HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": limit, "offset": offset, "next_offset": next}))
}

// ---- brands ----

async fn list_brands(req: HttpRequest, rooms: RoomsData, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.bounds()?;
    let who = principal(&req, pool(&rooms)).await?;
    let only = match &who {
        Principal::Admin => None,
        Principal::Key { brand_id, .. } => Some(brand_id.as_str()),
    };
    let page = store::list_brands_where(pool(&rooms), only, limit, offset).await?;
    Ok(paged(page, limit, offset))
}

async fn create_brand(req: HttpRequest, rooms: RoomsData, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    if principal(&req, pool).await? != Principal::Admin {
        return Err(ApiError::Forbidden("creating a brand needs the node's admin token".into()));
    }
    let brand: Brand = json_body(&body, "brand")?;
    let id = brand.id.clone();
    let edit = Edit { brand: Some(brand), create_brand: true, summary: "create brand".into(), ..Default::default() };
    let version = store::apply(pool, &id, "admin", edit).await?;
    let key = crate::auth::create_key(pool, &id, Role::Editor, "first editor key", "admin").await?;
    let info = store::get_brand(pool, &id).await?;
    Ok(HttpResponse::Created().json(json!({"brand": info, "knowledge_version": version, "editor_key": key})))
}

async fn get_brand(req: HttpRequest, rooms: RoomsData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    authorize(&req, pool(&rooms), &path, Access::Read).await?;
    Ok(HttpResponse::Ok().json(store::get_brand(pool(&rooms), &path).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandUpdate {
    name: String,
    #[serde(default)]
    name_en: Option<String>,
    /// Replaces the list when given; kept when absent.
    #[serde(default)]
    forbidden_claims: Option<Vec<ForbiddenClaim>>,
}

async fn update_brand(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &path, Access::Write).await?;
    let update: BrandUpdate = json_body(&body, "brand")?;
    let current = store::get_brand(pool, &path).await?.brand;
    let brand = Brand {
        id: current.id.clone(),
        name: update.name,
        name_en: update.name_en,
        forbidden_claims: update.forbidden_claims.unwrap_or(current.forbidden_claims),
    };
    let version = store::apply(pool, &path, &who.actor(), Edit { brand: Some(brand), ..Default::default() }).await?;
    Ok(HttpResponse::Ok().json(json!({"brand": store::get_brand(pool, &path).await?, "knowledge_version": version})))
}

async fn delete_brand(req: HttpRequest, rooms: RoomsData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    if principal(&req, pool).await? != Principal::Admin {
        return Err(ApiError::Forbidden("deleting a brand needs the node's admin token".into()));
    }
    store::delete_brand(pool, &path, "admin").await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- products ----

async fn list_products(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.bounds()?;
    authorize(&req, pool(&rooms), &path, Access::Read).await?;
    store::get_brand(pool(&rooms), &path).await?;
    let page = store::list_products(pool(&rooms), &path, limit, offset).await?;
    Ok(paged(page, limit, offset))
}

/// Write one product edit and answer with the product and the new version.
async fn write_product(
    pool: &PgPool,
    brand: &str,
    who: &Principal,
    edit: Edit,
    product_id: &str,
    status: u16,
) -> Result<HttpResponse, ApiError> {
    let version = store::apply(pool, brand, &who.actor(), edit).await?;
    let product = store::get_product(pool, brand, product_id).await?;
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    Ok(HttpResponse::build(status).json(json!({"product": product, "knowledge_version": version})))
}

async fn create_product(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &path, Access::Write).await?;
    let product: Product = json_body(&body, "product")?;
    let id = product.id.clone();
    let edit = Edit { upserts: vec![product], create_only: true, ..Default::default() };
    write_product(pool, &path, &who, edit, &id, 201).await
}

async fn get_product(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, product) = path.into_inner();
    authorize(&req, pool(&rooms), &brand, Access::Read).await?;
    Ok(HttpResponse::Ok().json(store::get_product(pool(&rooms), &brand, &product).await?))
}

async fn put_product(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (brand, id) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand, Access::Write).await?;
    let mut product: Product = json_body(&body, "product")?;
    if product.id.is_empty() {
        product.id = id.clone();
    }
    if product.id != id {
        return Err(ApiError::InvalidRequest(format!("the body's id {:?} is not the path's {id:?}", product.id)));
    }
    write_product(pool, &brand, &who, Edit { upserts: vec![product], ..Default::default() }, &id, 200).await
}

async fn delete_product(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, id) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand, Access::Write).await?;
    let version = store::apply(pool, &brand, &who.actor(), Edit { deletes: vec![id], ..Default::default() }).await?;
    Ok(HttpResponse::Ok().json(json!({"knowledge_version": version})))
}

// ---- FAQ ----

async fn list_faq(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, product) = path.into_inner();
    authorize(&req, pool(&rooms), &brand, Access::Read).await?;
    let p = store::get_product(pool(&rooms), &brand, &product).await?;
    let total = p.faq.len() as i64;
    Ok(paged(store::Page { items: p.faq, total }, total.max(1), 0))
}

/// FAQ ids: given, or `<product>-faq-<n>` with the first free n.
fn faq_id(p: &Product, f: &Faq) -> String {
    if let Some(id) = &f.id {
        return id.clone();
    }
    (1..)
        .map(|n| format!("{}-faq-{n}", p.id))
        .find(|id| !p.faq.iter().any(|x| x.id.as_deref() == Some(id)))
        .unwrap_or_default()
}

async fn create_faq(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (brand, product) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand, Access::Write).await?;
    let mut faq: Faq = json_body(&body, "FAQ entry")?;
    let mut p = store::get_product(pool, &brand, &product).await?;
    let id = faq_id(&p, &faq);
    if p.faq.iter().any(|f| f.id.as_deref() == Some(id.as_str())) {
        return Err(ApiError::Conflict(format!("FAQ {id:?} exists already")));
    }
    faq.id = Some(id.clone());
    p.faq.push(faq.clone());
    let version = store::apply(pool, &brand, &who.actor(), Edit { upserts: vec![p], ..Default::default() }).await?;
    Ok(HttpResponse::Created().json(json!({"faq": faq, "knowledge_version": version})))
}

fn find_faq<'a>(p: &'a mut Product, id: &str) -> Result<&'a mut Faq, ApiError> {
    p.faq.iter_mut().find(|f| f.id.as_deref() == Some(id)).ok_or_else(|| ApiError::NotFound("faq", id.into()))
}

async fn get_faq(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, product, faq) = path.into_inner();
    authorize(&req, pool(&rooms), &brand, Access::Read).await?;
    let mut p = store::get_product(pool(&rooms), &brand, &product).await?;
    Ok(HttpResponse::Ok().json(find_faq(&mut p, &faq)?.clone()))
}

async fn put_faq(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (brand, product, id) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand, Access::Write).await?;
    let mut new: Faq = json_body(&body, "FAQ entry")?;
    new.id = Some(id.clone());
    let mut p = store::get_product(pool, &brand, &product).await?;
    *find_faq(&mut p, &id)? = new.clone();
    let version = store::apply(pool, &brand, &who.actor(), Edit { upserts: vec![p], ..Default::default() }).await?;
    Ok(HttpResponse::Ok().json(json!({"faq": new, "knowledge_version": version})))
}

async fn delete_faq(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, product, id) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand, Access::Write).await?;
    let mut p = store::get_product(pool, &brand, &product).await?;
    find_faq(&mut p, &id)?;
    p.faq.retain(|f| f.id.as_deref() != Some(id.as_str()));
    let version = store::apply(pool, &brand, &who.actor(), Edit { upserts: vec![p], ..Default::default() }).await?;
    Ok(HttpResponse::Ok().json(json!({"knowledge_version": version})))
}

// ---- forbidden claims ----

async fn list_claims(req: HttpRequest, rooms: RoomsData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    authorize(&req, pool(&rooms), &path, Access::Read).await?;
    let claims = store::get_brand(pool(&rooms), &path).await?.brand.forbidden_claims;
    let total = claims.len() as i64;
    Ok(paged(store::Page { items: claims, total }, total.max(1), 0))
}

async fn create_claim(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &path, Access::Write).await?;
    let claim: ForbiddenClaim = json_body(&body, "forbidden claim")?;
    let mut brand = store::get_brand(pool, &path).await?.brand;
    if claim.id.as_ref().is_some_and(|id| brand.forbidden_claims.iter().any(|c| c.id.as_ref() == Some(id))) {
        return Err(ApiError::Conflict("a claim with this id exists already".into()));
    }
    brand.forbidden_claims.push(claim);
    let version = store::apply(pool, &path, &who.actor(), Edit { brand: Some(brand), ..Default::default() }).await?;
    let claims = store::get_brand(pool, &path).await?.brand.forbidden_claims;
    Ok(HttpResponse::Created().json(json!({"claim": claims.last(), "knowledge_version": version})))
}

async fn delete_claim(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand_id, claim) = path.into_inner();
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &brand_id, Access::Write).await?;
    let mut brand = store::get_brand(pool, &brand_id).await?.brand;
    let before = brand.forbidden_claims.len();
    brand.forbidden_claims.retain(|c| c.id.as_deref() != Some(claim.as_str()));
    if brand.forbidden_claims.len() == before {
        return Err(ApiError::NotFound("claim", claim));
    }
    let version =
        store::apply(pool, &brand_id, &who.actor(), Edit { brand: Some(brand), ..Default::default() }).await?;
    Ok(HttpResponse::Ok().json(json!({"knowledge_version": version})))
}

// ---- import / export / versions ----

#[derive(Debug, Deserialize)]
struct ImportQuery {
    format: Option<String>,
    mode: Option<String>,
}

fn is_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::InvalidRequest(format!("format must be json or csv, not {other:?}"))),
        None => Ok(req
            .headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.starts_with("text/csv"))),
    }
}

/// Import a catalogue for one brand. Validated whole: any problem answers
/// 422 `invalid_knowledge` with every problem (row, product, field) and
/// nothing is written. `mode=merge` (default) creates or replaces the listed
/// products; `mode=replace` also deletes the brand's other products.
async fn import(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    q: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &path, Access::Write).await?;
    let replace_all = match q.mode.as_deref() {
        None | Some("merge") => false,
        Some("replace") => true,
        Some(other) => return Err(ApiError::InvalidRequest(format!("mode must be merge or replace, not {other:?}"))),
    };
    let current = store::get_brand(pool, &path).await?.brand;
    let (brand, products) = if is_csv(&req, q.format.as_deref())? {
        (None, crate::knowledge::tabular::parse(&body).map_err(ApiError::InvalidKnowledge)?)
    } else {
        let catalog: Catalog = json_body(&body, "catalogue")?;
        if !catalog.brands.is_empty() {
            return Err(ApiError::InvalidRequest("import one brand at a time: use `brand`, not `brands`".into()));
        }
        let mut problems = Vec::new();
        if let Some(b) = &catalog.brand
            && b.id != current.id
        {
            problems.push(Problem {
                row: None,
                product_id: None,
                field: "brand.id".into(),
                message: format!("{:?} is not this brand ({:?})", b.id, current.id),
            });
        }
        if !problems.is_empty() {
            return Err(ApiError::InvalidKnowledge(problems));
        }
        (catalog.brand, catalog.products)
    };
    let n = products.len();
    let edit = Edit {
        brand,
        upserts: products,
        replace_all,
        summary: format!("{} import of {n} products", if replace_all { "replacing" } else { "merging" }),
        ..Default::default()
    };
    let version = store::apply(pool, &path, &who.actor(), edit).await?;
    Ok(HttpResponse::Ok().json(json!({"imported": n, "knowledge_version": version})))
}

async fn export(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    q: web::Query<ImportQuery>,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    authorize(&req, pool, &path, Access::Read).await?;
    let catalog = store::export(pool, &path).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(catalog)),
        Some("csv") => {
            let bytes = crate::knowledge::tabular::write(&catalog.products)?;
            Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(bytes))
        }
        Some(other) => Err(ApiError::InvalidRequest(format!("format must be json or csv, not {other:?}"))),
    }
}

async fn versions(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.bounds()?;
    authorize(&req, pool(&rooms), &path, Access::Read).await?;
    store::get_brand(pool(&rooms), &path).await?;
    let page = store::versions(pool(&rooms), &path, limit, offset).await?;
    Ok(paged(page, limit, offset))
}

// ---- keys ----

async fn list_keys(req: HttpRequest, rooms: RoomsData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    authorize(&req, pool, &path, Access::Write).await?;
    let keys = crate::auth::list_keys(pool, &path).await?;
    let total = keys.len() as i64;
    Ok(paged(store::Page { items: keys, total }, total.max(1), 0))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    role: String,
    #[serde(default)]
    label: String,
}

async fn create_key(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pool = pool(&rooms);
    let who = authorize(&req, pool, &path, Access::Write).await?;
    let request: KeyRequest = json_body(&body, "key request")?;
    let role = Role::parse(&request.role).ok_or_else(|| {
        ApiError::InvalidRequest(format!("role must be editor, operator or analyst, not {:?}", request.role))
    })?;
    store::get_brand(pool, &path).await?;
    let key = crate::auth::create_key(pool, &path, role, &request.label, &who.actor()).await?;
    Ok(HttpResponse::Created().json(key))
}

async fn revoke_key(
    req: HttpRequest,
    rooms: RoomsData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (brand, key) = path.into_inner();
    let pool = pool(&rooms);
    authorize(&req, pool, &brand, Access::Write).await?;
    if !crate::auth::revoke_key(pool, &brand, &key).await? {
        return Err(ApiError::NotFound("key", key));
    }
    Ok(HttpResponse::NoContent().finish())
}
