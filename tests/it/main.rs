//! Integration tests: real banks on loopback port 0 with fresh temporary databases, driven
//! over HTTP. One test binary; one module per area.

mod common;

mod api_errors;
mod attacks;
mod browser;
mod chaos;
mod compose;
mod concurrency;
mod consent;
mod consent_pages;
mod cross;
mod durability;
mod hardening;
mod idempotency;
mod keys;
mod ledger_ops;
mod metrics;
mod openapi;
mod pix;
mod postgres;
mod ring;
mod tidy;
mod web;
