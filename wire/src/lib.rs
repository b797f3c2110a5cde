//! ringbank's wire types: the serde shapes of the JSON a bank serves and accepts, in one place,
//! so the server, the typed client (`ringbank-client`), the operator tools and the integration
//! tests agree on every field name. No I/O and no logic beyond rendering a report as text.

pub mod admin; // /admin/v1: the bank's audit, the consortium summary, injected faults
pub mod api; // /api/v1: customers, sessions, accounts, statements, money movements, transfers
pub mod problem; // RFC 9457 problem+json, the body of every client error
pub mod ring; // GET /ring/v1/status

pub use admin::{ActiveFault, AuditCheck, AuditReport, BankSummary, DirectorySummary, FaultsView, ParticipationView, PhaseMicros, Stats};
pub use api::{
    AccountKind, AccountView, CashRequest, ConsentView, CustomerCreated, Leg, NewAccount, NewConsent, NewCustomer, NewPayment, NewTransfer,
    PaymentTarget, Posted, Session, SignIn, StatementLine, StatementPage, TransferView,
};
pub use problem::Problem;
pub use ring::{Regeneration, RingStatus, RingStatusView};
