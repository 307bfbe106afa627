//! Errors as HTTP responses: a status and a JSON body `{"error": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A request that could not be served, with the status it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is malformed or out of range (400).
    #[error("query parameter {param:?}: {problem}")]
    BadParameter {
        /// The parameter name.
        param: String,
        /// What is wrong with its value (quoted in the message).
        problem: String,
    },
    /// No series has this name (404).
    #[error("no series named {0:?}")]
    UnknownSeries(String),
    /// No route matches (404).
    #[error("no route {0}")]
    UnknownRoute(String),
    /// The bearer token is missing or wrong (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The query string is over the limit (414).
    #[error("query string is {0} bytes; the limit is 4096")]
    QueryTooLong(usize),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownSeries(_) | ApiError::UnknownRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::QueryTooLong(_) => StatusCode::URI_TOO_LONG,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if self == ApiError::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
