//! The server's one error type. Handlers return it; [`IntoResponse`] turns it into the JSON error
//! of the API contract (`{error: {code, message}}`). A 500 says only that something went wrong:
//! the cause is logged here, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

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
    /// The body is not in a format the route takes (server functions take JSON only).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests of this kind right now; answered with `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: std::time::Duration },
    #[error("{0}")]
    Unavailable(String),
    /// A chart store could not be read or written. `public` says so in a viewer's words (no
    /// address, no server path); `detail` — the store's URL with its password hidden and the
    /// driver's own words — goes to the log and to leads.
    #[error("{public}")]
    Store { public: String, detail: String },
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

    /// The store at `url` failed with `why` (the driver's words).
    pub fn store(url: &str, why: impl std::fmt::Display) -> Self {
        let why = why.to_string();
        Error::Store {
            public: format!("a chart store cannot be used right now: {}", store_failure_in_words(&why)),
            detail: format!("chart store {} is not usable: {why}", redact(url)),
        }
    }

    /// What a lead or the log may read: the store's detail, else the public message.
    pub fn detail(&self) -> String {
        match self {
            Error::Store { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }

    /// What a lead who gave a store URL is told when the store cannot be used: that it could not
    /// be opened, in Chartgate's words. Not what the other end answered, nor which of "no such
    /// file", "a directory" or "not a database" it was: a store URL must not be a way to read
    /// other servers' replies or to map the server's files. The log has the detail.
    pub fn for_lead(&self) -> String {
        match self {
            Error::Store { .. } => "it cannot be opened or reached (the server's log says why)".to_string(),
            other => other.to_string(),
        }
    }

    /// Chartgate's own database cannot be reached (as opposed to a query that failed): a 503 the
    /// caller can retry, not a 500.
    pub fn database_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }

    pub fn status(&self) -> StatusCode {
        if self.database_unreachable() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) | Error::ConflictWith { .. } => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store { .. } => StatusCode::BAD_GATEWAY,
            Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        if self.database_unreachable() {
            return "unavailable";
        }
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) | Error::ConflictWith { .. } => "conflict",
            Error::Unprocessable(_) => "unprocessable",
            Error::TooLarge => "too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Unavailable(_) => "unavailable",
            Error::Store { .. } => "store_unavailable",
            Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => "internal",
        }
    }

    /// The text a user may see.
    pub fn public_message(&self) -> String {
        if self.database_unreachable() {
            return "Chartgate's database cannot be reached right now; nothing was changed, try again shortly".into();
        }
        match self.status() {
            StatusCode::INTERNAL_SERVER_ERROR => "something went wrong on our side; it has been logged".into(),
            _ => self.to_string(),
        }
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A store failure as a viewer would put it: what is wrong, not where.
fn store_failure_in_words(why: &str) -> &'static str {
    let why = why.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| why.contains(w));
    if has(&["no such file", "unable to open", "does not exist", "no database file"]) {
        "it does not exist (any more)"
    } else if has(&["refused", "unreachable", "no route"]) {
        "its server refuses connections"
    } else if has(&["timed out", "timeout"]) {
        "its server does not answer"
    } else if has(&["locked", "busy"]) {
        "it is busy; try again shortly"
    } else if has(&["no such table", "no such column", "relation", "column"]) {
        "it does not have the tables of a chart store"
    } else if has(&["password", "authentication", "permission", "denied", "readonly", "read-only"]) {
        "Chartgate is not allowed to use it"
    } else {
        "it reported an error"
    }
}

/// The body of every API error (design §4), as [`Error`] answers it and the OpenAPI document
/// describes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `unprocessable`,
    /// `too_large`, `unsupported_media_type`, `too_many_requests`, `unavailable`,
    /// `store_unavailable` or `internal`.
    pub code: String,
    /// What went wrong, for people; a 500 only says that something did.
    pub message: String,
    /// Data for the caller on some conflicts (e.g. the current hashes of a reviewed item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let detail = match &self {
            Error::ConflictWith { detail, .. } => Some(detail.clone()),
            _ => None,
        };
        let retry_after = match &self {
            Error::TooManyRequests { retry_after, .. } => Some(retry_after_seconds(*retry_after)),
            _ => None,
        };
        let body =
            ErrorBody { error: ErrorDetail { code: self.code().to_string(), message: self.public_message(), detail } };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// `Retry-After` in whole seconds, rounded up and at least 1: a client that waits that long is
/// never early.
pub fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl From<Error> for app::error::AppError {
    fn from(e: Error) -> Self {
        use app::error::AppError as A;
        if e.database_unreachable() {
            tracing::error!(error = ?e, "service call failed: Chartgate's database is unreachable");
            return A::Unavailable(e.public_message());
        }
        match e {
            Error::NotFound(m) => A::NotFound(m),
            Error::BadRequest(m) | Error::Unprocessable(m) => A::BadRequest(m),
            Error::Store { public: m, .. } | Error::Unavailable(m) => A::Unavailable(m),
            Error::TooLarge => A::BadRequest("the request is too large".into()),
            Error::UnsupportedMediaType(m) => A::BadRequest(m),
            Error::TooManyRequests { message: m, .. } => A::Unavailable(m),
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
