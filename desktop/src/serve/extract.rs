//! The JSON body extractor: the body read within the size limit (413 past it, whether it came
//! with a Content-Length or chunked) and a time limit, then parsed twice — as the endpoint's own
//! fields and as the fields every endpoint shares ([`Common`]) — with the path of a bad field
//! kept, so that a 400 names the parameter (`temperature: invalid type: string "hot"`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::params::Common;

/// How long a client may take to send its body once the headers are in.
const BODY_TIME: Duration = Duration::from_secs(30);

/// A JSON body: the endpoint's fields `T` and the shared ones.
pub struct ApiJson<T>(pub T, pub Common);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = match tokio::time::timeout(BODY_TIME, Bytes::from_request(req, state)).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body took longer than 30 s to arrive",
                ));
            }
            Ok(Err(rejection)) => {
                let status = rejection.status();
                return Err(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        status,
                        "the request body is larger than the server accepts (--max-body)",
                    )
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
                });
            }
            Ok(Ok(b)) => b,
        };
        Ok(ApiJson(parse(&bytes)?, parse(&bytes)?))
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." || path == "?" {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not the JSON this endpoint takes: {inner}"),
            )
        } else {
            ApiError::param(&path, format!("{path}: {inner}"))
        }
    })
}
