-- A statement page reads one index. Before, each line of a page was three random reads on a
-- large ledger (the leg's row, the entry's primary-key index, the entry's row): ~35 ms for a
-- page of 20 lines when those pages were on disk (1M accounts, 10M entries; README, "A large
-- ledger"). Each leg now carries its entry's kind, description and time (copies, written with the
-- leg and never changed; the audit checks that they agree with the entry), and legs_statement
-- holds every column a statement line shows, in (account, line) order, so that a page is a few
-- adjacent pages of that index.
--
-- legs_statement replaces the UNIQUE (account, account_leg_number) index rather than joining it:
-- a third index on every leg cost 17 % of the local transfer rate (wrk, same machine, back to
-- back). Portable SQL cannot drop a table constraint in SQLite, so the table is rebuilt. Line
-- numbers stay unique: the writer takes each from the account's leg_count, in the same
-- transaction as the leg, guarded by that count (a batch's UPDATE ... WHERE leg_count = the count
-- it read, a single posting's UPDATE ... RETURNING); the audit checks that every account's lines
-- are numbered 1..n, once each. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE legs_new (
    entry_id            TEXT NOT NULL REFERENCES entries (id),
    position            BIGINT NOT NULL,
    account             TEXT NOT NULL REFERENCES accounts (number),
    amount_cents        BIGINT NOT NULL CHECK (amount_cents <> 0),
    account_leg_number  BIGINT NOT NULL,
    balance_after_cents BIGINT NOT NULL,
    kind                TEXT NOT NULL,
    description         TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    PRIMARY KEY (entry_id, position)
);
INSERT INTO legs_new (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, description, created_at_ms)
SELECT l.entry_id, l.position, l.account, l.amount_cents, l.account_leg_number, l.balance_after_cents, e.kind, e.description, e.created_at_ms
FROM legs l JOIN entries e ON e.id = l.entry_id;
DROP TABLE legs;
ALTER TABLE legs_new RENAME TO legs;
CREATE INDEX legs_statement ON legs (account, account_leg_number, entry_id, amount_cents, balance_after_cents, kind, description, created_at_ms);
