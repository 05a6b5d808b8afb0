//! Errors as the API answers them: a status code and a plain-text message, as Nomad does.

use crate::server::ServerError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub fn bad_request(msg: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::BAD_REQUEST,
            message: msg.into(),
        }
    }
    pub fn not_found(msg: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::NOT_FOUND,
            message: msg.into(),
        }
    }
    pub fn internal(msg: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: msg.into(),
        }
    }
}

impl From<ServerError> for HttpError {
    fn from(e: ServerError) -> HttpError {
        let status = match &e {
            ServerError::NotFound(_) | ServerError::UnknownNode(_) => StatusCode::NOT_FOUND,
            ServerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::Raft(_) | ServerError::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        HttpError {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status, self.message).into_response()
    }
}

/// Parses a JSON request body, answering 400 with where and what is wrong.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    if body.is_empty() {
        return Err(HttpError::bad_request(
            "request body is empty: expected JSON",
        ));
    }
    // Nomad's tooling sends explicit nulls for unset optional fields: they read as "not set".
    api::nulls::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("invalid request body: {e}")))
}
