//! The service layer's one error type. It says what went wrong in the customer's terms and
//! knows nothing of HTTP: the transport maps each variant to a status and a problem type once
//! (crate::http::error).

use ringbank_domain::TransferError;

use crate::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidDocument(String),
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Unbalanced(String),
    #[error("bank {0:?} is not a member of this consortium")]
    UnknownBank(String),
    #[error("authentication is required: send 'Authorization: Bearer <token>' from POST /api/v1/sessions")]
    Unauthenticated,
    #[error("the document or the password is wrong")]
    WrongCredentials,
    #[error("{detail}")]
    TooManyAttempts { detail: String, retry_after_seconds: u64 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    BadIdempotencyKey(String),
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    /// A Pix code or key refused (see service::pix).
    #[error(transparent)]
    Pix(#[from] crate::service::pix::PixError),
    /// Another bank this request needs did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// A Pix key already names an account (here or at another bank).
    #[error("{0}")]
    KeyTaken(String),
    #[error("{0}")]
    KeyNotFound(String),
    /// A Pix key portability claim refused (the key is another person's, or not where the
    /// claim says it is).
    #[error("{0}")]
    KeyClaimRefused(String),
    #[error("{0}")]
    KeyClaimNotFound(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<TransferError> for ServiceError {
    fn from(error: TransferError) -> ServiceError {
        match error {
            TransferError::InvalidField(m) => ServiceError::InvalidField(m),
            TransferError::InvalidAmount(m) => ServiceError::InvalidAmount(m),
            TransferError::LimitExceeded(m) => ServiceError::LimitExceeded(m),
            TransferError::Unbalanced(m) => ServiceError::Unbalanced(m),
            TransferError::UnknownBank(m) => ServiceError::UnknownBank(m),
        }
    }
}
