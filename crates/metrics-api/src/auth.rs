//! Bearer-token check for every route but `/healthz`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ApiState};

/// A bearer token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is empty (an empty `BYKILT_METRICS_TOKEN`, say).
    #[error(
        "the bearer token is empty, which would turn authentication off; set a token, or unset it to serve without one"
    )]
    Empty,
    /// The token holds a character that is not visible ASCII (a space, a
    /// control character, non-ASCII): clients could not send it.
    #[error("the bearer token contains {0:?}; use visible ASCII characters only (no spaces or control characters)")]
    BadCharacter(char),
}

/// Checks that `token` can serve as a bearer token: at least one
/// character, all of them visible ASCII. [`ApiState::with_token`] applies
/// it; a program can call it earlier, while parsing its arguments.
///
/// # Errors
/// [`TokenError`] naming what is wrong.
pub fn check_token(token: &str) -> Result<(), TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(TokenError::BadCharacter(c));
    }
    Ok(())
}

/// The credentials of an `Authorization: Bearer <token>` header. The scheme
/// name is case-insensitive (RFC 7235 §2.1), and any run of spaces or tabs
/// may separate it from the token.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Compares without an early exit, so timing does not reveal a prefix match.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `request` may pass: no token is set, it asks for `/healthz`, or
/// it presents `token`. Every router of this crate checks through here.
pub(crate) fn authorized(token: Option<&str>, request: &Request) -> bool {
    token.is_none() || request.uri().path() == "/healthz" || presents(token, request.headers())
}

/// Whether `headers` carry `Authorization: Bearer <token>` (or no token is set).
fn presents(token: Option<&str>, headers: &axum::http::HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credentials)
        .is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes()))
}

/// `GET /api/auth`, open to everyone: whether the server wants a token and
/// whether the request presents it. The dashboard asks this first, so a
/// page without the token shows its form instead of making requests the
/// server must refuse (each a 401 in the browser's console).
pub(crate) fn auth_status(token: Option<&str>, headers: &axum::http::HeaderMap) -> Response {
    axum::Json(serde_json::json!({
        "token_required": token.is_some(),
        "authorized": presents(token, headers),
    }))
    .into_response()
}

pub(crate) async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if authorized(state.token.as_deref(), &request) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        for header in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR\tabc",
            "Bearer   abc  ",
        ] {
            assert_eq!(bearer_credentials(header), Some("abc"), "{header:?}");
        }
        for header in ["Basic abc", "Bearerabc", "Bearer", "Token abc"] {
            assert_eq!(bearer_credentials(header), None, "{header:?}");
        }
    }

    #[test]
    fn tokens_must_be_non_empty_visible_ascii() {
        assert_eq!(check_token(""), Err(TokenError::Empty));
        assert_eq!(check_token("a b"), Err(TokenError::BadCharacter(' ')));
        assert_eq!(check_token("abc\n"), Err(TokenError::BadCharacter('\n')));
        assert_eq!(check_token("é"), Err(TokenError::BadCharacter('é')));
        assert_eq!(check_token("s3cret-_.~+/="), Ok(()));
    }
}
