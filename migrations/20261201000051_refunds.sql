-- Refunds (devolução). Portable SQL (SQLite and PostgreSQL).
--
-- A refund is a transfer from the account an earlier transfer credited back to the account it
-- debited; refund_of names that earlier transfer (the original). What the refunds of an original
-- from one account add up to (pending or committed) never exceeds what the original credited to
-- it: checked by the writer, which serializes the account's debits.
ALTER TABLE transfers ADD COLUMN refund_of TEXT;
CREATE INDEX transfers_by_refund_of ON transfers (refund_of);
