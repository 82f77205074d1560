//! The one error type of `app`: what a service call or server function can fail with, in words
//! safe to show a user. It crosses the wire as JSON, so the browser can tell a 409 (reload the
//! diff) from a 403 (hide the control) from anything else.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The content moved since the user saw it (or the item cannot be decided now).
    #[error("{0}")]
    Conflict(String),
    #[error("something went wrong on our side; it has been logged")]
    Internal,
    /// A database or store the server needs cannot be reached right now; retrying may work.
    #[error("{0}")]
    Unavailable(String),
    /// The request never reached the service (network, encoding).
    #[error("could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
