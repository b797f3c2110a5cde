//! ringbank: one bank of a consortium with no central bank.

pub mod app; // building and running one bank server
pub mod bench; // `ringbank bench`: load generator for local transfers
pub mod bench_ring; // `ringbank bench-ring`: idle cost, token passes and failover of the ring
pub mod chaos; // `ringbank chaos`: random load under a seeded fault schedule, then every invariant
pub mod clock; // wall-clock milliseconds and random ids (a leaf)
pub mod config;
pub mod consortium_audit; // checks across live banks: same outcomes, mirrored settlement, money conserved
pub mod fault_cli; // `ringbank fault`: one fault into a running bank through its admin API
pub mod faults; // fault injection: partitions, crashes, pauses, token drop/replay, delay, loss, duplicates
pub mod http; // warp routes: customer API, admin, pages
pub mod ledger; // all SQL: accounts, journal, holds, sessions, idempotency, audit
pub mod metrics; // /metrics: counters and histograms in the Prometheus text format
pub mod peer; // other banks: member list, signed requests, wire types
pub mod protocol; // bank-to-bank messages of the two-phase commit (/bank/v1): a leaf
pub mod ring_driver; // the only owner of the ring state machine and its timers
pub mod service; // customer use cases: sessions, accounts, money, idempotency; its own error enum
pub mod supervisor; // restarts crashed bank processes of a LocalRing; `up`'s control endpoint
pub mod twopc; // cross-bank transfers: coordinator loops and the participant's rules (the Cross handle)
pub mod up; // `ringbank up`: a local consortium of bank processes
