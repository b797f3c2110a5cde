-- Idempotency records keep a typed result (transfer id and status) instead of an HTTP status
-- and body: the ledger no longer knows HTTP. Records written before this migration had bodies
-- of exactly '{"id":"<id>","status":"<status>"}' (written by the bank itself), so their
-- results are recovered here with portable string functions (SQLite and PostgreSQL).
ALTER TABLE idempotency_keys ADD COLUMN result_id TEXT;
ALTER TABLE idempotency_keys ADD COLUMN result_status TEXT;
UPDATE idempotency_keys
   SET result_id = replace(replace(response_body, '{"id":"', ''), '","status":"committed"}', ''),
       result_status = 'committed'
 WHERE response_body LIKE '%","status":"committed"}';
UPDATE idempotency_keys
   SET result_id = replace(replace(response_body, '{"id":"', ''), '","status":"pending"}', ''),
       result_status = 'pending'
 WHERE response_body LIKE '%","status":"pending"}';
