//! Extractors of the HTTP edge: who is calling (and whether their role may call this route),
//! and JSON bodies and query strings whose rejections are API errors.
//!
//! A handler names its caller's least role in its signature — [`Viewer`], [`Reviewer`] or
//! [`Lead`] — so who may call a route reads in one place, and a route without one stands out.
//! The feature function it calls checks the role again: the edge and the domain both hold.

use app::types::{CurrentUser, Role};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use crate::access::User;
use crate::accounts;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The caller of a request: `Authorization: Bearer <token>`, or the signed-in browser user the
/// session middleware found (state changes from the browser passed its Origin check). 401
/// otherwise. Another scheme in `Authorization` (Basic or Negotiate, which a proxy in front may
/// add to every request) is not Chartgate's credential and leaves the session to speak.
async fn caller(parts: &Parts, state: &AppState) -> Result<User> {
    let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) {
        let token = Some(token.trim()).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(Error::Unauthorized);
        };
        let user = accounts::user_by_token(&state.db, token).await?.ok_or(Error::Unauthorized)?;
        crate::http::observe::record_user(&user.email);
        return Ok(user);
    }
    parts.extensions.get::<CurrentUser>().map(User::from).ok_or(Error::Unauthorized)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub User);

        impl<S> FromRequestParts<S> for $name
        where
            AppState: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = Error;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
                let user = caller(parts, &AppState::from_ref(state)).await?;
                if user.role < $role {
                    return Err(Error::Forbidden(format!(
                        "this route needs the {} role; {} is a {}",
                        $role.as_str(),
                        user.email,
                        user.role.as_str()
                    )));
                }
                Ok($name(user))
            }
        }
    };
}

role_extractor!(
    /// Any signed-in user or token (viewers and up); 401 without credentials.
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// Reviewers and leads; 403 for viewers.
    Reviewer,
    Role::Reviewer
);
role_extractor!(
    /// Leads only; 403 for everyone else.
    Lead,
    Role::Lead
);

/// JSON bodies whose rejections are API errors, not axum's plain-text ones.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct ApiJson<T>(pub T);

/// A body without a field the route requires is a 400 naming the field (`missing field
/// \`branch\``); JSON of another shape (a wrong type, an unknown value) is a 422; a body that is
/// not JSON at all is a 400.
impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => match missing_field(&e.body_text()) {
                Some(field) => Error::BadRequest(format!("missing field `{field}`: the body must have it")),
                None => Error::Unprocessable(e.body_text()),
            },
            JsonRejection::MissingJsonContentType(_) => {
                Error::BadRequest("send the body as JSON (Content-Type: application/json)".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
            other => Error::BadRequest(other.body_text()),
        }
    }
}

/// The field serde names in a "missing field `NAME`" error, with the path to it when it is nested
/// (`items[0].chart_id`).
fn missing_field(text: &str) -> Option<String> {
    let at = text.find("missing field `")?;
    let rest = &text[at + "missing field `".len()..];
    let field = &rest[..rest.find('`')?];
    // serde_path_to_error puts the path of the object that lacks it first: "items[0]: missing …".
    let path = text[..at].trim_end().trim_end_matches(':');
    let path = path.rsplit(": ").next().unwrap_or("").trim();
    let nested = !path.is_empty() && path != "." && !path.contains(' ');
    Some(if nested { format!("{path}.{field}") } else { field.to_string() })
}

/// Query strings whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest(r.body_text())
    }
}
