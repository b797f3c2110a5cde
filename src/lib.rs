//! ringbank: one bank of a consortium with no central bank.

pub mod app; // building and running one bank server
pub mod config;
pub mod coordinator; // cross-bank transfers: batches under the token, outcome delivery, in-doubt resolution // the command line: one clap struct per command
pub mod error; // the HTTP boundary's error type and its problem+json mapping
pub mod faults; // fault injection: partitions, crashes, pauses, token drop/replay, delay, loss, duplicates
pub mod http; // warp routes: customer API, admin, pages
pub mod ledger; // all SQL: accounts, journal, holds, sessions, idempotency, audit
pub mod metrics; // /metrics: counters and histograms in the Prometheus text format
pub mod operations; // validation and ledger jobs shared by the JSON API and the web pages
pub mod peer; // other banks: member list, signed requests, wire types
pub mod ring_driver; // the only owner of the ring state machine and its timers
pub mod state; // what handlers share: config, ledger, sessions, rate limits
pub mod web; // the customer web pages (internet banking): askama templates, sessions, CSRF
