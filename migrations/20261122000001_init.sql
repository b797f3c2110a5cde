-- ringbank schema, version 1. Portable SQL: the same statements run on SQLite and PostgreSQL.
-- Money is BIGINT centavos; every integer column is BIGINT (Rust reads them all as i64, and
-- PostgreSQL INTEGER would be 32 bits). Times are BIGINT milliseconds since the Unix epoch (wall clock,
-- for display and retention only; no protocol decision reads them).

CREATE TABLE bank_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE customers (
    document      TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Customer accounts (individual, joint, company) and the bank's own accounts (cash, and
-- settlement accounts per peer bank). Customer accounts can never go negative; the bank's
-- own accounts carry the other side of every entry and may.
CREATE TABLE accounts (
    number              TEXT PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('individual', 'joint', 'company', 'cash', 'settlement')),
    -- Set only for individual accounts: makes "one individual account per CPF" a constraint.
    individual_document TEXT UNIQUE,
    balance_cents       BIGINT NOT NULL DEFAULT 0,
    held_cents          BIGINT NOT NULL DEFAULT 0,
    -- Number of legs posted to this account; each leg takes the next value (statement order).
    leg_count           BIGINT NOT NULL DEFAULT 0,
    created_at_ms       BIGINT NOT NULL,
    CHECK (held_cents >= 0),
    CHECK (kind IN ('cash', 'settlement') OR (balance_cents >= 0 AND held_cents <= balance_cents))
);

CREATE TABLE account_holders (
    account  TEXT NOT NULL REFERENCES accounts (number),
    document TEXT NOT NULL REFERENCES customers (document),
    PRIMARY KEY (account, document)
);
CREATE INDEX account_holders_by_document ON account_holders (document);

-- One journal entry per money movement; its legs sum to zero.
CREATE TABLE entries (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'transfer', 'payment')),
    description   TEXT NOT NULL,
    initiated_by  TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE legs (
    entry_id            TEXT NOT NULL REFERENCES entries (id),
    position            BIGINT NOT NULL,
    account             TEXT NOT NULL REFERENCES accounts (number),
    amount_cents        BIGINT NOT NULL CHECK (amount_cents <> 0),
    account_leg_number  BIGINT NOT NULL,
    balance_after_cents BIGINT NOT NULL,
    PRIMARY KEY (entry_id, position),
    UNIQUE (account, account_leg_number)
);

-- Money reserved on an account by a transfer that is not final yet. A hold counts against the
-- available balance at once; it is resolved exactly once, posted or released.
CREATE TABLE holds (
    id             TEXT PRIMARY KEY,
    account        TEXT NOT NULL REFERENCES accounts (number),
    amount_cents   BIGINT NOT NULL CHECK (amount_cents > 0),
    transfer_id    TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('held', 'posted', 'released')),
    created_at_ms  BIGINT NOT NULL,
    resolved_at_ms BIGINT
);
CREATE INDEX holds_by_account ON holds (account, status);

-- Transfers and payments as the customer asked for them, with their outcome.
CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('transfer', 'payment')),
    initiated_by  TEXT NOT NULL,
    description   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'committed', 'aborted')),
    reason        TEXT,
    entry_id      TEXT REFERENCES entries (id),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE transfer_legs (
    transfer_id  TEXT NOT NULL REFERENCES transfers (id),
    position     BIGINT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
    bank         TEXT NOT NULL,
    account      TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    PRIMARY KEY (transfer_id, position)
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    document      TEXT NOT NULL REFERENCES customers (document),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- Outcomes of requests sent with an Idempotency-Key, per customer.
CREATE TABLE idempotency_keys (
    document      TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (document, idem_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at_ms);

INSERT INTO accounts (number, kind, created_at_ms) VALUES ('cash', 'cash', 0);
