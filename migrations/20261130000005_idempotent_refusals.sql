-- A request refused under an Idempotency-Key (insufficient funds, unknown account, ...) is
-- recorded under the key too, so that a repeat gets the same refusal: the kind of refusal and
-- its detail, typed columns (no HTTP status, no JSON). Rows of a committed or pending result
-- keep these NULL; rows of a refusal keep result_id and result_status NULL.
ALTER TABLE idempotency_keys ADD COLUMN refusal_kind TEXT;
ALTER TABLE idempotency_keys ADD COLUMN refusal_detail TEXT;
