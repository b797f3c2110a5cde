//! ringbank: one bank of a consortium with no central bank.

pub mod app; // building and running one bank server
pub mod bench; // `ringbank bench`: load generator for local transfers
pub mod bench_ring; // `ringbank bench-ring`: idle cost, token passes and failover of the ring
pub mod chaos; // `ringbank chaos`: random load under a seeded fault schedule, then every invariant
pub mod config;
pub mod consortium_audit; // checks across live banks: same outcomes, mirrored settlement, money conserved
pub mod coordinator; // cross-bank transfers: batches under the token, outcome delivery, in-doubt resolution // the command line: one clap struct per command
pub mod error; // the HTTP boundary's error type and its problem+json mapping
pub mod fault_cli; // `ringbank fault`: one fault into a running bank through its admin API
pub mod faults; // fault injection: partitions, crashes, pauses, token drop/replay, delay, loss, duplicates
pub mod http; // warp routes: customer API, admin, pages
pub mod ledger; // all SQL: accounts, journal, holds, sessions, idempotency, audit
pub mod metrics; // /metrics: counters and histograms in the Prometheus text format
pub mod operations; // validation and ledger jobs shared by the JSON API and the web pages
pub mod peer; // other banks: member list, signed requests, wire types
pub mod ring_driver; // the only owner of the ring state machine and its timers
pub mod state; // what handlers share: config, ledger, sessions, rate limits
pub mod supervisor; // restarts crashed bank processes of a LocalRing; `up`'s control endpoint
pub mod up; // `ringbank up`: a local consortium of bank processes
pub mod web; // the customer web pages (internet banking): askama templates, sessions, CSRF
