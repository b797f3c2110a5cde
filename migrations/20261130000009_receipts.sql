-- A coordinator's signed decision on each cross-bank transfer it decided: the receipt
-- (comprovante) of a committed one. `signed_text` is the exact canonical text the coordinator
-- signed (ringbank_domain::decision), `signature` its Ed25519 signature in hex; together with
-- the member list anyone can verify it. Written in the same commit as the decision.
CREATE TABLE receipts (
    transfer_id TEXT PRIMARY KEY REFERENCES transfers (id),
    coordinator TEXT NOT NULL,
    signed_text TEXT NOT NULL,
    signature   TEXT NOT NULL
);
