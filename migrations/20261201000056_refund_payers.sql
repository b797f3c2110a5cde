-- Refunds of transfers with several payers. Portable SQL (SQLite and PostgreSQL).
--
-- A participant the transfer credits keeps who paid each of its credits (the prepare's
-- `payers`: debits matched to credits in leg order), so that its receiver can refund each payer
-- its share. payer_bank/payer_account of participations stay for rows written before this (one
-- payer, who paid the whole credit) and are still filled when there is one payer.
CREATE TABLE participation_payers (
    transfer_id TEXT NOT NULL,
    credited TEXT NOT NULL,
    position INTEGER NOT NULL,
    bank TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    PRIMARY KEY (transfer_id, credited, position)
);
