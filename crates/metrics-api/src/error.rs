//! Errors as HTTP responses: a status and a JSON body `{"error": "..."}`.
//!
//! Messages quote what the client sent so the mistake is visible, but never
//! more than [`ECHO_LIMIT`] bytes of it: a 60 KB query string must not come
//! back whole.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Most bytes of one client-supplied value quoted in an error message.
pub(crate) const ECHO_LIMIT: usize = 120;
/// Most bytes of a whole error message (a last guard over the pieces).
const MESSAGE_LIMIT: usize = 400;

/// `s` quoted and escaped as `{:?}` would, cut to [`ECHO_LIMIT`] bytes of
/// output with its real length noted when longer.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars().flat_map(char::escape_debug) {
        if out.len() + c.len_utf8() > ECHO_LIMIT {
            out.push_str(&format!("…\" ({} bytes)", s.len()));
            return out;
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A request that could not be served, with the status it maps to. The
/// fields hold what the client sent in full; the messages quote at most
/// `ECHO_LIMIT` (120) bytes of each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is malformed or out of range (400).
    #[error("query parameter {}: {problem}", quoted(param))]
    BadParameter {
        /// The parameter name.
        param: String,
        /// What is wrong with its value (quoted, clipped, in the message).
        problem: String,
    },
    /// No series has this name (404).
    #[error("no series named {}", quoted(.0))]
    UnknownSeries(String),
    /// No route matches (404).
    #[error("no route {}", quoted(.0))]
    UnknownRoute(String),
    /// The bearer token is missing or wrong (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The query string is over the limit (414).
    #[error("query string is {0} bytes; the limit is 4096")]
    QueryTooLong(usize),
    /// The work behind the answer failed unexpectedly (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownSeries(_) | ApiError::UnknownRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::QueryTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `message` cut to [`MESSAGE_LIMIT`] bytes (at a character boundary, with
/// `…` where it was cut): the last guard on every error body, whatever the
/// pieces it was built from quoted.
pub(crate) fn clipped(mut message: String) -> String {
    if message.len() > MESSAGE_LIMIT {
        let mut cut = MESSAGE_LIMIT;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = clipped(self.to_string());
        let mut response = (self.status(), Json(serde_json::json!({ "error": message }))).into_response();
        if self == ApiError::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_clips_long_values_and_keeps_short_ones() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
        let long = quoted(&"x".repeat(60_000));
        assert!(long.len() <= ECHO_LIMIT + 20, "{long}");
        assert!(long.ends_with("…\" (60000 bytes)"), "{long}");
        // Escapes count as what they become, multi-byte characters are not split.
        assert!(quoted(&"\u{1}".repeat(1000)).len() <= ECHO_LIMIT + 20);
        assert!(quoted(&"é".repeat(1000)).starts_with("\"éé"));
    }
}
