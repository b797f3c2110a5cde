-- Consents (Open Finance Brasil's payment-initiation model). Portable SQL (SQLite and PostgreSQL).
--
-- At the account's bank: a customer allowed another member bank (the grantee) to debit one of
-- their accounts here, within limits, until it expires or is revoked. The id is random (what
-- the grantee presents with each debit, only in signed bank-to-bank requests); used_cents is
-- what yes votes of prepared or committed transfers use of max_total_cents.
CREATE TABLE consents (
    id                     TEXT PRIMARY KEY,
    grantor                TEXT NOT NULL REFERENCES customers (document),
    grantee                TEXT NOT NULL,
    account                TEXT NOT NULL REFERENCES accounts (number),
    max_per_transfer_cents BIGINT NOT NULL CHECK (max_per_transfer_cents > 0),
    max_total_cents        BIGINT NOT NULL CHECK (max_total_cents > 0),
    used_cents             BIGINT NOT NULL DEFAULT 0,
    expires_at_ms          BIGINT NOT NULL,
    revoked_at_ms          BIGINT,
    created_at_ms          BIGINT NOT NULL,
    CHECK (used_cents >= 0 AND used_cents <= max_total_cents)
);
CREATE INDEX consents_by_grantor ON consents (grantor, created_at_ms);
CREATE INDEX consents_by_grantee ON consents (grantee, account);

-- What each yes vote used of a consent: 'held' until the outcome, then 'posted' (commit) or
-- 'released' (abort, given back to the consent's total).
CREATE TABLE consent_uses (
    transfer_id  TEXT NOT NULL,
    position     BIGINT NOT NULL,
    consent_id   TEXT NOT NULL REFERENCES consents (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    status       TEXT NOT NULL CHECK (status IN ('held', 'posted', 'released')),
    PRIMARY KEY (transfer_id, position)
);
CREATE INDEX consent_uses_by_consent ON consent_uses (consent_id, status);

-- One-time codes of the web consent round trip: the account's bank hands the customer's browser
-- back to the grantee with a code (never the consent id); the grantee redeems it once, in a
-- signed request, for the consent. Only the code's SHA-256 is stored.
CREATE TABLE consent_codes (
    code_hash     TEXT PRIMARY KEY,
    consent_id    TEXT NOT NULL REFERENCES consents (id),
    expires_at_ms BIGINT NOT NULL,
    redeemed      BIGINT NOT NULL DEFAULT 0
);

-- At the grantee (the bank the customer uses): the consents a customer of this bank brought
-- from other banks, for their dashboard and transfers there.
CREATE TABLE linked_consents (
    document      TEXT NOT NULL REFERENCES customers (document),
    bank          TEXT NOT NULL,
    consent_id    TEXT NOT NULL,
    account       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (document, bank, consent_id)
);

-- At the origin: the consent a debit leg at another bank carries.
ALTER TABLE transfer_legs ADD COLUMN consent TEXT;
