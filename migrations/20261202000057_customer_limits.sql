-- Limits per customer, across every account the customer holds at this bank. Portable SQL
-- (SQLite and PostgreSQL).
--
-- A customer's own limits (same columns and rules as account_limits: NULL is no limit, a raise
-- waits in pending_* until raise_at_ms). A customer without a row has no customer-wide limit;
-- each account's own limits apply as before. Both apply: a debit must fit the account's and
-- its initiator's.
CREATE TABLE customer_limits (
    document                   TEXT PRIMARY KEY REFERENCES customers (document),
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

-- Who asked for each debit: a customer's usage is what the debits they initiated took, from
-- any account they hold here (a joint account's debit counts for the holder who made it).
-- Rows written before this have NULL and count for no customer.
ALTER TABLE limit_debits ADD COLUMN initiated_by TEXT;
ALTER TABLE holds ADD COLUMN initiated_by TEXT;
CREATE INDEX limit_debits_by_initiator ON limit_debits (initiated_by, at_ms);
CREATE INDEX holds_by_initiator ON holds (initiated_by, created_at_ms);
