-- Scheduled transfers (agendamento). Portable SQL (SQLite and PostgreSQL).
--
-- A customer's schedule: a transfer from their account here to an account at any member bank,
-- first at a local date and time (first_local, in the bank's time zone) and then weekly or
-- monthly, until cancelled or `occurrences_max` have run. `next_occurrence` is the next one to
-- run and `next_at_ms` when it is due; both move on only in the job that records its run.
CREATE TABLE schedules (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL REFERENCES customers (document),
    repeat_rule      TEXT NOT NULL CHECK (repeat_rule IN ('once', 'weekly', 'monthly')),
    first_local      TEXT NOT NULL,
    from_account     TEXT NOT NULL REFERENCES accounts (number),
    to_bank          TEXT NOT NULL,
    to_account       TEXT NOT NULL,
    amount_cents     BIGINT NOT NULL CHECK (amount_cents > 0),
    description      TEXT NOT NULL,
    occurrences_max  BIGINT,
    next_occurrence  BIGINT NOT NULL DEFAULT 0,
    next_at_ms       BIGINT,
    status           TEXT NOT NULL CHECK (status IN ('active', 'cancelled', 'finished')),
    created_at_ms    BIGINT NOT NULL,
    cancelled_at_ms  BIGINT
);
CREATE INDEX schedules_due ON schedules (status, next_at_ms);
CREATE INDEX schedules_by_owner ON schedules (owner, created_at_ms);

-- Each occurrence that ran (or could not): the transfer it made (whose Idempotency-Key is
-- derived from the schedule id and the occurrence, so a retry after a crash makes no second
-- one), or why it failed or was missed.
CREATE TABLE schedule_runs (
    schedule_id  TEXT NOT NULL REFERENCES schedules (id),
    occurrence   BIGINT NOT NULL,
    due_at_ms    BIGINT NOT NULL,
    ran_at_ms    BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('committed', 'pending', 'failed', 'missed')),
    transfer_id  TEXT,
    reason       TEXT,
    PRIMARY KEY (schedule_id, occurrence)
);
