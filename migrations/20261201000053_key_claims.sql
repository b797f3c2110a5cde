-- Pix key portability claims (issue 19). Portable SQL (SQLite and PostgreSQL).
--
-- A customer at the new bank (the claimant side) asks to bring one of their keys from the
-- bank that holds it now (the donor side); both banks keep a row under the same id. The donor
-- bank decides: its customer confirms (the key is then moved by the directory, in the token's
-- order) or refuses, or the claim expires at `expires_at_ms` by the donor's clock. The claimant
-- bank's row follows what the donor tells it, and the directory itself shows a completed move.
CREATE TABLE key_claims (
    id                 TEXT NOT NULL,
    side               TEXT NOT NULL CHECK (side IN ('claimant', 'donor')),
    key_text           TEXT NOT NULL,
    key_kind           TEXT NOT NULL,
    document           TEXT NOT NULL,
    from_bank          TEXT NOT NULL,
    from_account       TEXT NOT NULL,
    to_bank            TEXT NOT NULL,
    to_account         TEXT NOT NULL,
    to_account_kind    TEXT NOT NULL,
    to_name            TEXT NOT NULL,
    to_masked_document TEXT NOT NULL,
    key_limit          BIGINT NOT NULL CHECK (key_limit > 0),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'refused', 'expired', 'failed')),
    reason             TEXT,
    created_at_ms      BIGINT NOT NULL,
    expires_at_ms      BIGINT NOT NULL,
    decided_at_ms      BIGINT,
    PRIMARY KEY (id, side)
);
CREATE INDEX key_claims_by_document ON key_claims (document, created_at_ms);
CREATE INDEX key_claims_by_key ON key_claims (key_text, status);
