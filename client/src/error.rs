//! What a call can fail with: the bank could not be reached, or it answered an error (with its
//! problem+json when it sent one).

use ringbank_wire::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused, timeout, or the body could not be read or decoded.
    #[error("{url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    /// The bank answered with an error status and a problem+json body.
    #[error("{url} answered {status}: {} ({})", problem.detail, problem.type_uri)]
    Problem { url: String, status: reqwest::StatusCode, problem: Problem },
    /// The bank answered with an error status and some other body (or one not of the expected shape).
    #[error("{url} answered {status}: {body}")]
    Unexpected { url: String, status: reqwest::StatusCode, body: String },
    /// `wait_ready` gave up.
    #[error("{url} {what} within {} s", waited.as_secs())]
    NotReady { url: String, what: &'static str, waited: std::time::Duration },
}

impl ClientError {
    /// The HTTP status of an answer; None when there was none.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Transport { .. } | ClientError::NotReady { .. } => None,
            ClientError::Problem { status, .. } | ClientError::Unexpected { status, .. } => Some(status.as_u16()),
        }
    }

    /// The problem+json body, if the bank sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Problem { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The problem type's slug (`insufficient-funds`), if the bank sent a problem.
    pub fn slug(&self) -> Option<&str> {
        self.problem().map(Problem::slug)
    }

    /// True when the bank did not answer at all (it may be down, paused or partitioned).
    pub fn is_transport(&self) -> bool {
        matches!(self, ClientError::Transport { .. } | ClientError::NotReady { .. })
    }
}

/// Turns a response into `T` (2xx) or the error it carries.
pub(crate) async fn decode<T: serde::de::DeserializeOwned>(url: &str, response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let text = response.text().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { url: url.to_string(), status, body: text });
    }
    Err(error_of(url, status, text))
}

/// Checks a response whose body is not needed (204 and friends).
pub(crate) async fn expect_success(url: &str, response: reqwest::Response) -> Result<(), ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
    Err(error_of(url, status, text))
}

fn error_of(url: &str, status: reqwest::StatusCode, text: String) -> ClientError {
    match serde_json::from_str::<Problem>(&text) {
        Ok(problem) => ClientError::Problem { url: url.to_string(), status, problem },
        Err(_) => ClientError::Unexpected { url: url.to_string(), status, body: text },
    }
}

pub(crate) fn transport(url: &str) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
    move |source| ClientError::Transport { url: url.to_string(), source }
}
