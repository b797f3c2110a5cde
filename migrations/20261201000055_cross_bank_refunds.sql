-- Refunds across banks. Portable SQL (SQLite and PostgreSQL).
--
-- A participant keeps what a prepare told it of a transfer beyond its own legs: the original a
-- refund returns (refund_of), and, at a bank the transfer credited, its one payer (bank and
-- account), so that the receiver's bank can refund it to where it came from.
ALTER TABLE participations ADD COLUMN refund_of TEXT;
ALTER TABLE participations ADD COLUMN payer_bank TEXT;
ALTER TABLE participations ADD COLUMN payer_account TEXT;
CREATE INDEX participations_by_refund_of ON participations (refund_of);
