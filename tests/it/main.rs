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
mod limits;
mod membership;
mod metrics;
mod money_pages;
mod openapi;
mod pix;
mod pix_key_pages;
mod pix_keys;
mod postgres;
mod refunds;
mod ring;
mod schedules;
mod seed;
mod storage_faults;
mod tidy;
mod web;
mod web_ux;
