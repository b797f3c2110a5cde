-- Joint accounts need every co-holder's consent: a holder named by someone else is recorded
-- with accepted = 0 until they accept; an account with a holder who has not accepted moves no
-- money. Holders recorded before this migration had consented by the old rules: 1.
ALTER TABLE account_holders ADD COLUMN accepted BIGINT NOT NULL DEFAULT 1;
