//! The one error type of the HTTP boundary and its one mapping to RFC 9457 problem+json.
//! Every client error has a stable `type` (`/problems/<slug>`); internal detail never reaches
//! a client: a 5xx says only that something failed and is logged with its cause.

use warp::http::StatusCode;
use warp::reply::Response;

use crate::ledger::{LedgerError, RefusalKind};
use crate::service::pix::PixError;
use crate::service::ServiceError;
use crate::twopc::ParticipantError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    MissingField(String),
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
    #[error("the admin secret is required: send 'Authorization: Bearer <admin secret>'")]
    AdminUnauthenticated,
    #[error("bank-to-bank authentication failed: {0}")]
    PeerUnauthenticated(String),
    #[error("the document or the password is wrong")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    TooManyAttempts { detail: String, retry_after_seconds: u64 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    BadIdempotencyKey(String),
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(u64),
    #[error("no route matches {0}")]
    RouteNotFound(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the request was not received in time")]
    RequestTimeout,
    #[error("a Content-Length header (or a chunked body) is required")]
    LengthRequired,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    KeyTaken(String),
    #[error("{0}")]
    KeyNotFound(String),
    #[error("{0}")]
    KeyClaimRefused(String),
    #[error("{0}")]
    KeyClaimNotFound(String),
    /// A ring membership change this bank will not propose (admin API).
    #[error("{0}")]
    MembershipRefused(String),
    #[error(transparent)]
    Pix(#[from] PixError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::InvalidField(m) => ApiError::InvalidField(m),
            ServiceError::InvalidDocument(m) => ApiError::InvalidDocument(m),
            ServiceError::InvalidAmount(m) => ApiError::InvalidAmount(m),
            ServiceError::LimitExceeded(m) => ApiError::LimitExceeded(m),
            ServiceError::Unbalanced(m) => ApiError::Unbalanced(m),
            ServiceError::UnknownBank(m) => ApiError::UnknownBank(m),
            ServiceError::Unauthenticated => ApiError::Unauthenticated,
            ServiceError::WrongCredentials => ApiError::WrongCredentials,
            ServiceError::TooManyAttempts { detail, retry_after_seconds } => ApiError::TooManyAttempts { detail, retry_after_seconds },
            ServiceError::Ledger(e) => ApiError::Ledger(e),
            ServiceError::BadIdempotencyKey(m) => ApiError::BadIdempotencyKey(m),
            ServiceError::IdempotencyInProgress => ApiError::IdempotencyInProgress,
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::KeyTaken(m) => ApiError::KeyTaken(m),
            ServiceError::KeyNotFound(m) => ApiError::KeyNotFound(m),
            ServiceError::KeyClaimRefused(m) => ApiError::KeyClaimRefused(m),
            ServiceError::KeyClaimNotFound(m) => ApiError::KeyClaimNotFound(m),
            ServiceError::Pix(e) => ApiError::Pix(e),
            ServiceError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ParticipantError> for ApiError {
    fn from(error: ParticipantError) -> ApiError {
        match error {
            ParticipantError::Forbidden(m) => ApiError::Forbidden(m),
            ParticipantError::LimitExceeded(m) => ApiError::LimitExceeded(m),
            ParticipantError::Malformed(m) => ApiError::InvalidField(m),
            ParticipantError::Unbalanced(m) => ApiError::Unbalanced(m),
            ParticipantError::Ledger(e) => ApiError::Ledger(e),
        }
    }
}

/// The parts of a problem document that depend on the kind of error.
struct Kind {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
}

impl ApiError {
    fn kind(&self) -> Kind {
        use StatusCode as S;
        let (status, slug, title) = match self {
            ApiError::MalformedJson(_) => (S::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            ApiError::MissingField(_) => (S::BAD_REQUEST, "missing-field", "A required field is missing"),
            ApiError::InvalidField(_) => (S::UNPROCESSABLE_ENTITY, "invalid-field", "A field has an invalid value"),
            ApiError::InvalidDocument(_) => (S::UNPROCESSABLE_ENTITY, "invalid-document", "Invalid CPF or CNPJ"),
            ApiError::InvalidAmount(_) => (S::UNPROCESSABLE_ENTITY, "invalid-amount", "Invalid amount"),
            ApiError::LimitExceeded(_) => (S::UNPROCESSABLE_ENTITY, "limit-exceeded", "A limit was exceeded"),
            ApiError::Unbalanced(_) => (S::UNPROCESSABLE_ENTITY, "unbalanced-transfer", "Debits and credits differ"),
            ApiError::UnknownBank(_) => (S::UNPROCESSABLE_ENTITY, "unknown-bank", "Unknown bank"),
            ApiError::Unauthenticated => (S::UNAUTHORIZED, "unauthenticated", "Authentication required"),
            ApiError::AdminUnauthenticated => (S::UNAUTHORIZED, "unauthenticated", "Authentication required"),
            ApiError::PeerUnauthenticated(_) => (S::UNAUTHORIZED, "peer-unauthenticated", "Bank-to-bank authentication failed"),
            ApiError::WrongCredentials => (S::UNAUTHORIZED, "wrong-credentials", "Wrong document or password"),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::TooManyAttempts { .. } => (S::TOO_MANY_REQUESTS, "too-many-attempts", "Too many attempts"),
            ApiError::Ledger(e) => return ledger_kind(e),
            ApiError::BadIdempotencyKey(_) => (S::BAD_REQUEST, "invalid-idempotency-key", "Invalid Idempotency-Key"),
            ApiError::IdempotencyInProgress => (S::CONFLICT, "idempotency-in-progress", "Request still in progress"),
            ApiError::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large"),
            ApiError::RouteNotFound(_) => (S::NOT_FOUND, "route-not-found", "No such route"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
            ApiError::RequestTimeout => (S::REQUEST_TIMEOUT, "request-timeout", "Request timeout"),
            ApiError::LengthRequired => (S::LENGTH_REQUIRED, "length-required", "Length required"),
            ApiError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            ApiError::KeyTaken(_) => (S::CONFLICT, "key-taken", "The Pix key is already registered"),
            ApiError::KeyNotFound(_) => (S::NOT_FOUND, "key-not-found", "No such Pix key"),
            ApiError::KeyClaimRefused(_) => (S::FORBIDDEN, "key-claim-refused", "The Pix key portability claim is refused"),
            ApiError::KeyClaimNotFound(_) => (S::NOT_FOUND, "key-claim-not-found", "No such Pix key portability claim"),
            ApiError::MembershipRefused(_) => (S::CONFLICT, "membership-refused", "The membership change is refused"),
            ApiError::Pix(e) => return pix_kind(e),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        };
        Kind { status, slug, title }
    }

    pub fn status(&self) -> StatusCode {
        self.kind().status
    }

    /// The stable problem type slug, e.g. `insufficient-funds` (the web pages translate it).
    pub fn slug(&self) -> &'static str {
        self.kind().slug
    }

    /// Guessing refused: how long the client is asked to wait.
    pub fn too_many_attempts(retry_after: std::time::Duration) -> ApiError {
        let retry_after_seconds = retry_after.as_secs().max(1);
        ApiError::TooManyAttempts { detail: format!("too many failed attempts; try again in {retry_after_seconds} s"), retry_after_seconds }
    }

    /// Turns the error into an application/problem+json response.
    pub fn into_response(self, instance: &str) -> Response {
        let kind = self.kind();
        let retry_after = match &self {
            ApiError::TooManyAttempts { retry_after_seconds, .. } => Some(*retry_after_seconds),
            _ => None,
        };
        let admin = matches!(self, ApiError::AdminUnauthenticated);
        let detail = if kind.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, instance, "request failed");
            "the bank could not complete the request; nothing was changed unless a later read shows it".to_string()
        } else {
            self.to_string()
        };
        let body = serde_json::json!({
            "type": format!("/problems/{}", kind.slug),
            "title": kind.title,
            "status": kind.status.as_u16(),
            "detail": detail,
            "instance": instance,
        });
        let mut response = Response::new(body.to_string().into());
        if instance.is_empty() {
            // Filled in with the request's path on the way out (reply::finish).
            response.extensions_mut().insert(ProblemWithoutInstance(body));
        }
        *response.status_mut() = kind.status;
        response.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/problem+json"));
        if kind.status == StatusCode::UNAUTHORIZED {
            let challenge = if admin { "Bearer realm=\"ringbank-admin\"" } else { "Bearer realm=\"ringbank\"" };
            response.headers_mut().insert(warp::http::header::WWW_AUTHENTICATE, warp::http::HeaderValue::from_static(challenge));
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// A refusal given again under an Idempotency-Key maps exactly as when it was first given.
fn refusal_kind(kind: RefusalKind) -> Kind {
    let example = match kind {
        RefusalKind::InsufficientFunds => LedgerError::InsufficientFunds { account: String::new(), available_cents: 0, requested_cents: 0 },
        RefusalKind::AccountNotFound => LedgerError::AccountNotFound(String::new()),
        RefusalKind::NotACompanyAccount => LedgerError::NotACompanyAccount(String::new()),
        RefusalKind::InvalidAccountKind => LedgerError::InvalidAccountKind(String::new()),
        RefusalKind::UnknownCustomer => LedgerError::UnknownCustomer(String::new()),
        RefusalKind::Overflow => LedgerError::Overflow,
        RefusalKind::RefundRefused => LedgerError::RefundRefused(String::new()),
        RefusalKind::LimitExceeded => LedgerError::LimitExceeded(ringbank_domain::LimitRefusal {
            account: String::new(),
            customer: false,
            kind: ringbank_domain::LimitKind::PerTransfer,
            limit_cents: 0,
            left_cents: 0,
            requested_cents: 0,
        }),
    };
    ledger_kind(&example)
}

/// A problem rendered where the request's path was not at hand (warp's rejections).
#[derive(Clone, Debug)]
pub struct ProblemWithoutInstance(pub serde_json::Value);

fn ledger_kind(error: &LedgerError) -> Kind {
    use StatusCode as S;
    let (status, slug, title) = match error {
        LedgerError::CustomerExists => (S::CONFLICT, "customer-exists", "Customer already exists"),
        LedgerError::IndividualAccountExists => {
            (S::CONFLICT, "individual-account-exists", "This CPF already has an individual account here")
        }
        LedgerError::UnknownCustomer(_) => (S::UNPROCESSABLE_ENTITY, "unknown-customer", "Unknown customer"),
        LedgerError::AccountNotFound(_) => (S::NOT_FOUND, "account-not-found", "Account not found"),
        LedgerError::AccountPending(_) => (S::CONFLICT, "account-pending", "The account awaits its co-holders' acceptance"),
        LedgerError::TransferNotFound(_) => (S::NOT_FOUND, "transfer-not-found", "Transfer not found"),
        LedgerError::ConsentNotFound(_) => (S::NOT_FOUND, "consent-not-found", "Consent not found"),
        LedgerError::ConsentCodeInvalid => (S::UNPROCESSABLE_ENTITY, "consent-code-invalid", "Invalid consent code"),
        LedgerError::InsufficientFunds { .. } => (S::UNPROCESSABLE_ENTITY, "insufficient-funds", "Insufficient funds"),
        LedgerError::Refused { kind, .. } => return refusal_kind(*kind),
        LedgerError::NotACompanyAccount(_) => (S::UNPROCESSABLE_ENTITY, "not-a-company-account", "Payments go to company accounts"),
        LedgerError::InvalidAccountKind(_) => (S::UNPROCESSABLE_ENTITY, "invalid-account-kind", "Invalid account kind"),
        LedgerError::IdempotencyKeyReused => {
            (S::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency-Key reused with another request")
        }
        LedgerError::StaleStamp { .. } => (S::CONFLICT, "stale-stamp", "Stale fencing stamp"),
        LedgerError::Overflow => (S::UNPROCESSABLE_ENTITY, "limit-exceeded", "A limit was exceeded"),
        LedgerError::LimitExceeded(_) => {
            (S::UNPROCESSABLE_ENTITY, "transfer-limit-exceeded", "A transfer limit of the account was exceeded")
        }
        LedgerError::ScheduleNotFound(_) => (S::NOT_FOUND, "schedule-not-found", "Schedule not found"),
        LedgerError::KeyClaimPending(_) => (S::CONFLICT, "key-claim-pending", "The Pix key already has a pending portability claim"),
        LedgerError::KeyClaimClosed(_) => (S::CONFLICT, "key-claim-closed", "The portability claim is no longer pending"),
        LedgerError::RefundRefused(_) => (S::UNPROCESSABLE_ENTITY, "refund-refused", "The refund is not allowed"),
        LedgerError::SettlementRefused(_) => (S::CONFLICT, "settlement-refused", "The settlement is refused"),
        LedgerError::InvalidLimits(_) => (S::UNPROCESSABLE_ENTITY, "invalid-field", "A field has an invalid value"),
        LedgerError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
        LedgerError::Database(_) | LedgerError::Stopped | LedgerError::Invariant(_) => {
            (S::INTERNAL_SERVER_ERROR, "internal", "Internal error")
        }
    };
    Kind { status, slug, title }
}

fn pix_kind(error: &PixError) -> Kind {
    use StatusCode as S;
    let (status, slug, title) = match error {
        PixError::BrCode(e) if e.kind() == "tampered" => {
            (S::UNPROCESSABLE_ENTITY, "brcode-tampered", "The Pix code was changed (its CRC does not match)")
        }
        PixError::BrCode(_) => (S::UNPROCESSABLE_ENTITY, "invalid-brcode", "Not a valid Pix code"),
        PixError::KeyNotFound(_) => (S::NOT_FOUND, "pix-key-not-found", "Pix key not found"),
        PixError::NoKey(_) => (S::UNPROCESSABLE_ENTITY, "no-pix-key", "The account has no Pix key"),
        PixError::ChargeNotFound(_) => (S::NOT_FOUND, "charge-not-found", "Pix charge not found"),
        PixError::ChargeExpired(_) => (S::UNPROCESSABLE_ENTITY, "charge-expired", "Pix charge expired"),
        PixError::ChargePaid(_) => (S::CONFLICT, "charge-paid", "Pix charge already paid"),
        PixError::ChargeMismatch(_) => (S::UNPROCESSABLE_ENTITY, "charge-mismatch", "The code does not match its charge"),
        PixError::NotAMember(_) => (S::UNPROCESSABLE_ENTITY, "charge-not-member", "The charge is not at a member bank"),
    };
    Kind { status, slug, title }
}
