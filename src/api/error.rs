//! One table of API errors: HTTP status and a stable snake_case code,
//! rendered as JSON `{message, code, type}` (and `index` for ingest).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::ingest::IngestError;
use crate::room::RoomError;
use crate::room::registry::OpenError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("room {0:?} is not open on this node")]
    RoomNotFound(String),
    #[error("unknown brand {0:?}")]
    UnknownBrand(String),
    #[error("{0}")]
    RoomLeasedElsewhere(String),
    #[error("the room's session has ended")]
    SessionEnded,
    #[error("{0}")]
    LogUnavailable(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("session {0:?} not found")]
    SessionNotFound(String),
    #[error("product {0:?} not found")]
    ProductNotFound(String),
    #[error("internal error: {0:#}")]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Ingest(e) => e.code,
            ApiError::RoomNotFound(_) => "room_not_found",
            ApiError::UnknownBrand(_) => "unknown_brand",
            ApiError::RoomLeasedElsewhere(_) => "room_leased_elsewhere",
            ApiError::SessionEnded => "session_ended",
            ApiError::LogUnavailable(_) => "log_unavailable",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::SessionNotFound(_) => "session_not_found",
            ApiError::ProductNotFound(_) => "product_not_found",
            ApiError::Unexpected(_) => "internal",
        }
    }

    fn kind(&self) -> &'static str {
        match self.status_code().as_u16() {
            400..=499 => "invalid_request",
            _ => "internal",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({"message": self.to_string(), "code": self.code(), "type": self.kind()});
        if let ApiError::Ingest(IngestError { index: Some(i), .. }) = self {
            body["index"] = json!(i);
        }
        body
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Ingest(e) if e.code == "batch_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Ingest(_) | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RoomNotFound(_) | ApiError::SessionNotFound(_) | ApiError::ProductNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UnknownBrand(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RoomLeasedElsewhere(_) | ApiError::SessionEnded => StatusCode::CONFLICT,
            ApiError::LogUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, ApiError::Unexpected(_)) {
            tracing::error!(error = %self, "request failed");
        }
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Ended => ApiError::SessionEnded,
            RoomError::LogUnavailable(m) => ApiError::LogUnavailable(m),
            RoomError::Stopped => ApiError::LogUnavailable("the room stopped; retry to reopen it from its log".into()),
        }
    }
}

impl From<OpenError> for ApiError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::UnknownBrand(b) => ApiError::UnknownBrand(b),
            e @ OpenError::LeasedElsewhere(..) => ApiError::RoomLeasedElsewhere(e.to_string()),
            OpenError::NothingToResume(room) => ApiError::RoomNotFound(room),
            OpenError::Other(e) => ApiError::Unexpected(e),
        }
    }
}
