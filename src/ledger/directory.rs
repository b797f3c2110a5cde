//! The Pix key directory's replica on disk: the promise, the committed length and the log's
//! slots (see `ringbank_ring::directory`). Written only through the writer (`Job::Directory`,
//! one transaction per `Write`, acknowledged after commit); read whole at start.

use std::collections::BTreeMap;

use ringbank_ring::directory::{Op, Owner, ReplicaState, Slot, Write};
use ringbank_ring::Stamp;
use sqlx::AnyConnection;

use super::{Ledger, LedgerError, Outcome};

/// Stores one write of the replica (promise, slots, committed length) in the writer's transaction.
pub(super) async fn apply(connection: &mut AnyConnection, write: &Write) -> Result<Outcome, LedgerError> {
    if let Some(promised) = write.promised {
        sqlx::query("UPDATE directory_state SET promised_epoch = $1, promised_seq = $2 WHERE id = 1")
            .bind(promised.epoch as i64)
            .bind(promised.seq as i64)
            .execute(&mut *connection)
            .await?;
    }
    for (pos, slot) in &write.slots {
        let pos = i64::try_from(*pos).map_err(|_| LedgerError::Invariant("directory position out of range".into()))?;
        sqlx::query("DELETE FROM directory_slots WHERE pos = $1").bind(pos).execute(&mut *connection).await?;
        let row = SlotRow::from_op(&slot.op);
        sqlx::query(
            "INSERT INTO directory_slots (pos, epoch, seq, op, op_id, key_text, key_kind, bank, account, account_kind, holder_name, \
             masked_document, from_bank, from_account, key_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(pos)
        .bind(slot.stamp.epoch as i64)
        .bind(slot.stamp.seq as i64)
        .bind(row.op)
        .bind(row.id)
        .bind(row.key)
        .bind(row.key_kind)
        .bind(row.owner.bank)
        .bind(row.owner.account)
        .bind(row.owner.account_kind)
        .bind(row.owner.name)
        .bind(row.owner.masked_document)
        .bind(row.from_bank)
        .bind(row.from_account)
        .bind(i64::from(row.limit))
        .execute(&mut *connection)
        .await?;
    }
    if let Some(committed) = write.committed {
        let committed = i64::try_from(committed).map_err(|_| LedgerError::Invariant("directory position out of range".into()))?;
        sqlx::query("UPDATE directory_state SET committed = $1 WHERE id = 1 AND committed <= $1")
            .bind(committed)
            .execute(&mut *connection)
            .await?;
    }
    Ok(Outcome::Done)
}

struct SlotRow {
    op: &'static str,
    id: String,
    key: String,
    key_kind: String,
    owner: Owner,
    from_bank: String,
    from_account: String,
    limit: u16,
}

impl SlotRow {
    fn from_op(op: &Op) -> SlotRow {
        let empty = || SlotRow {
            op: "noop",
            id: String::new(),
            key: String::new(),
            key_kind: String::new(),
            owner: Owner::default(),
            from_bank: String::new(),
            from_account: String::new(),
            limit: 0,
        };
        match op.clone() {
            Op::Noop => empty(),
            Op::Register { id, key, key_kind, owner, limit } => SlotRow { op: "register", id, key, key_kind, owner, limit, ..empty() },
            Op::Delete { id, key, bank, account } => {
                SlotRow { op: "delete", id, key, owner: Owner { bank, account, ..Owner::default() }, ..empty() }
            }
            Op::Move { id, key, from_bank, from_account, to, limit } => {
                SlotRow { op: "move", id, key, owner: to, from_bank, from_account, limit, ..empty() }
            }
        }
    }

    fn into_op(self) -> Result<Op, LedgerError> {
        Ok(match self.op {
            "noop" => Op::Noop,
            "register" => Op::Register { id: self.id, key: self.key, key_kind: self.key_kind, owner: self.owner, limit: self.limit },
            "delete" => Op::Delete { id: self.id, key: self.key, bank: self.owner.bank, account: self.owner.account },
            "move" => Op::Move {
                id: self.id,
                key: self.key,
                from_bank: self.from_bank,
                from_account: self.from_account,
                to: self.owner,
                limit: self.limit,
            },
            other => return Err(LedgerError::Invariant(format!("unknown directory operation {other:?}"))),
        })
    }
}

type Row = (i64, i64, i64, String, String, String, String, String, String, String, String, String, String, String, i64);

impl Ledger {
    /// The replica as stored (read once at start).
    pub async fn load_directory(&self) -> Result<ReplicaState, LedgerError> {
        let mut connection = self.read_pool().acquire().await?;
        let (epoch, seq, committed): (i64, i64, i64) =
            sqlx::query_as("SELECT promised_epoch, promised_seq, committed FROM directory_state WHERE id = 1")
                .fetch_one(&mut *connection)
                .await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT pos, epoch, seq, op, op_id, key_text, key_kind, bank, account, account_kind, holder_name, masked_document, from_bank, \
             from_account, key_limit FROM directory_slots ORDER BY pos",
        )
        .fetch_all(&mut *connection)
        .await?;
        let mut slots = BTreeMap::new();
        for (pos, epoch, seq, op, id, key, key_kind, bank, account, account_kind, name, masked_document, from_bank, from_account, limit) in
            rows
        {
            let op: &'static str = match op.as_str() {
                "register" => "register",
                "delete" => "delete",
                "move" => "move",
                "noop" => "noop",
                other => return Err(LedgerError::Invariant(format!("unknown directory operation {other:?}"))),
            };
            let owner = Owner { bank, account, account_kind, name, masked_document };
            let limit = u16::try_from(limit).map_err(|_| LedgerError::Invariant("directory key limit out of range".into()))?;
            let op = SlotRow { op, id, key, key_kind, owner, from_bank, from_account, limit }.into_op()?;
            slots.insert(pos as u64, Slot { stamp: Stamp::new(epoch as u64, seq as u64), op });
        }
        let committed = committed as u64;
        if (1..=committed).any(|pos| !slots.contains_key(&pos)) {
            return Err(LedgerError::Invariant("the directory's committed log has a hole".into()));
        }
        Ok(ReplicaState { promised: Stamp::new(epoch as u64, seq as u64), committed, slots })
    }
}
