-- A statement page reads one index. Before, each line of a page was three random reads on a
-- large ledger (the leg's row, the entry's primary-key index, the entry's row): ~35 ms for a
-- page of 20 lines when those pages were on disk (1M accounts, 10M entries; README, "A large
-- ledger"). Each leg now carries its entry's kind, description and time (copies, written with the
-- leg and never changed; the audit checks that they agree with the entry), and legs_statement
-- holds every column a statement line shows, in (account, line) order, so that a page is a few
-- adjacent pages of that index. Portable SQL (SQLite and PostgreSQL).
ALTER TABLE legs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE legs ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE legs ADD COLUMN created_at_ms BIGINT NOT NULL DEFAULT 0;
UPDATE legs SET
    kind = (SELECT e.kind FROM entries e WHERE e.id = legs.entry_id),
    description = (SELECT e.description FROM entries e WHERE e.id = legs.entry_id),
    created_at_ms = (SELECT e.created_at_ms FROM entries e WHERE e.id = legs.entry_id);
CREATE INDEX legs_statement ON legs (account, account_leg_number, entry_id, amount_cents, balance_after_cents, kind, description, created_at_ms);
