-- The Pix key directory's replica at this bank (issue 19). Portable SQL (SQLite and PostgreSQL).
--
-- directory_state holds one row: the newest ballot (a ring stamp) this bank promised, and the
-- length of its committed log prefix. directory_slots holds the log: the value this bank
-- accepted at each position, with the stamp of the holder that wrote it. Slots at positions up
-- to `committed` are committed and never change; later slots may be replaced by a newer stamp's.
-- Epochs and sequence numbers are unsigned 64-bit values stored with the same bits in BIGINT.
CREATE TABLE directory_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    promised_epoch BIGINT NOT NULL,
    promised_seq   BIGINT NOT NULL,
    committed      BIGINT NOT NULL CHECK (committed >= 0)
);
INSERT INTO directory_state (id, promised_epoch, promised_seq, committed) VALUES (1, 0, 0, 0);

CREATE TABLE directory_slots (
    pos             BIGINT PRIMARY KEY CHECK (pos >= 1),
    epoch           BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('register', 'delete', 'move', 'noop')),
    op_id           TEXT NOT NULL,
    key_text        TEXT NOT NULL,
    key_kind        TEXT NOT NULL,
    bank            TEXT NOT NULL,
    account         TEXT NOT NULL,
    account_kind    TEXT NOT NULL,
    holder_name     TEXT NOT NULL,
    masked_document TEXT NOT NULL,
    from_bank       TEXT NOT NULL,
    from_account    TEXT NOT NULL,
    key_limit       BIGINT NOT NULL
);
