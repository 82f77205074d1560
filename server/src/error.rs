//! The server's one error type. Handlers return it; [`IntoResponse`] turns it into the JSON error
//! of the API contract (`{error: {code, message}}`). A 500 says only that something went wrong:
//! the cause is logged here, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A conflict that carries data for the caller (e.g. the current hashes).
    #[error("{message}")]
    ConflictWith { message: String, detail: serde_json::Value },
    #[error("{0}")]
    Unprocessable(String),
    #[error("the request body is too large")]
    TooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// A chart store could not be read or written; the message names the store and is safe to show.
    #[error("{0}")]
    Store(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Error::Internal(what.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) | Error::ConflictWith { .. } => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(_) => StatusCode::BAD_GATEWAY,
            Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) | Error::ConflictWith { .. } => "conflict",
            Error::Unprocessable(_) => "unprocessable",
            Error::TooLarge => "too_large",
            Error::Unavailable(_) => "unavailable",
            Error::Store(_) => "store_unavailable",
            Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => "internal",
        }
    }

    /// The text a user may see.
    pub fn public_message(&self) -> String {
        match self.status() {
            StatusCode::INTERNAL_SERVER_ERROR => "something went wrong on our side; it has been logged".into(),
            _ => self.to_string(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut body = json!({"error": {"code": self.code(), "message": self.public_message()}});
        if let Error::ConflictWith { detail, .. } = &self {
            body["error"]["detail"] = detail.clone();
        }
        (status, Json(body)).into_response()
    }
}

impl From<Error> for app::error::AppError {
    fn from(e: Error) -> Self {
        use app::error::AppError as A;
        match e {
            Error::NotFound(m) => A::NotFound(m),
            Error::BadRequest(m) | Error::Unprocessable(m) | Error::Store(m) | Error::Unavailable(m) => {
                A::BadRequest(m)
            }
            Error::TooLarge => A::BadRequest("the request is too large".into()),
            Error::Unauthorized => A::Unauthorized,
            Error::Forbidden(m) => A::Forbidden(m),
            Error::Conflict(m) | Error::ConflictWith { message: m, .. } => A::Conflict(m),
            other => {
                tracing::error!(error = ?other, "service call failed");
                A::Internal
            }
        }
    }
}
