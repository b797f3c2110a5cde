//! ringbank: one bank of a consortium with no central bank. Layers, bottom first (ARCHITECTURE.md;
//! tests/it/tidy.rs enforces them): clock, faults, metrics, protocol -> ledger -> peer -> config ->
//! ring_driver -> twopc -> service -> http -> app.

pub mod app; // building and running one bank server (the composition root; nothing imports it)
pub mod clock; // wall-clock milliseconds and random ids (a leaf)
pub mod config; // the command line of the server: one clap struct per command, validated before start
pub mod directory; // the Pix key directory's driver: the replica, ordering under the token, peer sync
pub mod faults; // fault injection: partitions, crashes, pauses, token drop/replay, delay, loss, duplicates
pub mod http; // transport: warp routes for the customer API, admin, bank-to-bank, pages; one error mapping
pub mod ledger; // all SQL: accounts, journal, holds, sessions, idempotency, audit
pub mod metrics; // /metrics: counters and histograms in the Prometheus text format
pub mod peer; // other banks: member list, signed requests
pub mod protocol; // bank-to-bank messages of the two-phase commit (/bank/v1): a leaf
pub mod ring_clock; // the ring driver's monotonic clock, with the rate the clock-rate fault sets
pub mod ring_driver; // the only owner of the ring state machine and its timers
pub mod ring_state; // the ring's durable state on disk: two checksummed slots, one fdatasync per write
pub mod service; // customer use cases: sessions, accounts, money, idempotency; its own error enum
pub mod twopc; // cross-bank transfers: coordinator loops and the participant's rules (the Cross handle)
