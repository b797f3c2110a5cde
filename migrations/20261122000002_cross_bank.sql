-- Cross-bank transfers: two-phase commit under the token. Portable SQL (SQLite and PostgreSQL).

-- At the origin bank (the coordinator): where each transfer stands in the consortium-wide
-- order (epoch, token_seq, position in batch), set durably before any prepare is sent.
ALTER TABLE transfers ADD COLUMN origin TEXT;
ALTER TABLE transfers ADD COLUMN order_epoch BIGINT;
ALTER TABLE transfers ADD COLUMN order_seq BIGINT;
ALTER TABLE transfers ADD COLUMN order_position BIGINT;
ALTER TABLE transfers ADD COLUMN decided_at_ms BIGINT;
CREATE INDEX transfers_pending ON transfers (status, created_at_ms);

-- At the coordinator: the outcome of each transfer still to be delivered to each participant.
CREATE TABLE outcome_deliveries (
    transfer_id TEXT NOT NULL REFERENCES transfers (id),
    bank        TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('commit', 'abort')),
    delivered   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (transfer_id, bank)
);
CREATE INDEX outcome_deliveries_pending ON outcome_deliveries (delivered, bank);

-- At every participant (the origin included): its durable vote per transfer and what became
-- of it. 'prepared' is in doubt: holds placed, outcome not yet known.
CREATE TABLE participations (
    transfer_id    TEXT PRIMARY KEY,
    coordinator    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('transfer', 'payment')),
    initiated_by   TEXT NOT NULL,
    description    TEXT NOT NULL,
    participants   TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('prepared', 'committed', 'aborted')),
    reason         TEXT,
    order_epoch    BIGINT NOT NULL,
    order_seq      BIGINT NOT NULL,
    order_position BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    resolved_at_ms BIGINT
);
CREATE INDEX participations_status ON participations (status, created_at_ms);

-- The legs a participant books for a transfer: its customers' debits and credits and the
-- settlement legs against peer banks that balance them.
CREATE TABLE participation_legs (
    transfer_id  TEXT NOT NULL REFERENCES participations (transfer_id),
    position     BIGINT NOT NULL,
    account      TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents <> 0),
    PRIMARY KEY (transfer_id, position)
);

-- Fencing: the newest (epoch, token_seq) stamp of any prepare this bank accepted.
CREATE TABLE fencing (
    name  TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    seq   BIGINT NOT NULL
);
INSERT INTO fencing (name, epoch, seq) VALUES ('prepare', 0, 0);
