-- Transfer limits (Pix style). Portable SQL (SQLite and PostgreSQL).
--
-- An account's limits as its holders set them: NULL is no limit. An account without a row has
-- the defaults (no limit per transfer or per day; the night limit of R$ 1.000,00). A raise
-- applies only from raise_at_ms on (the pending_* columns; all NULL with raise_at_ms NULL when
-- no raise waits); a lowering applies at once.
CREATE TABLE account_limits (
    account                    TEXT PRIMARY KEY REFERENCES accounts (number),
    per_transfer_cents         BIGINT CHECK (per_transfer_cents > 0),
    daily_cents                BIGINT CHECK (daily_cents > 0),
    night_cents                BIGINT CHECK (night_cents > 0),
    pending_per_transfer_cents BIGINT CHECK (pending_per_transfer_cents > 0),
    pending_daily_cents        BIGINT CHECK (pending_daily_cents > 0),
    pending_night_cents        BIGINT CHECK (pending_night_cents > 0),
    raise_at_ms                BIGINT,
    updated_by                 TEXT NOT NULL,
    updated_at_ms              BIGINT NOT NULL
);

-- What each local transfer or payment debited from a customer account, and when: with the
-- holds of cross-bank debits (table holds) this is what counts against the daily and night
-- limits. Kept a few days (purged with the idempotency records).
CREATE TABLE limit_debits (
    account      TEXT NOT NULL,
    transfer_id  TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    at_ms        BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, account)
);
CREATE INDEX limit_debits_by_account ON limit_debits (account, at_ms);
CREATE INDEX holds_by_account_age ON holds (account, created_at_ms);
