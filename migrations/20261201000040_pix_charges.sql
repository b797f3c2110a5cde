-- Pix dynamic charges (cobranças). Portable SQL (SQLite and PostgreSQL).
--
-- A company account's request for one payment of a fixed amount, until it expires. The id is
-- the charge's txid (25 random letters and digits) and the last part of the URL its BR Code
-- carries (/pix/v1/charges/{id}). Whether it was paid is read from the journal: a credit of
-- exactly the amount to the account, in an entry described "Pix {id}".
CREATE TABLE pix_charges (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts (number),
    created_by    TEXT NOT NULL REFERENCES customers (document),
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    description   TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX pix_charges_by_account ON pix_charges (account, created_at_ms);
