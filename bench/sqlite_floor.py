#!/usr/bin/env python3
"""SQLite's own cost of the rows one local transfer writes: the floor under a bank's local
throughput, whatever the HTTP server, the async runtime or the driver do.

The bank's writer is the only writer (one connection, one thread at a time); a local transfer
with an Idempotency-Key is stored as the writer's fast path stores it (src/ledger/batch.rs):
one journal entry, two legs, one transfer, two transfer legs, one idempotency key, one
limit-usage row, and the accounts it touched updated once per batch. This script builds a
database from migrations/*.sql (WAL, synchronous=FULL, as the bank runs it), prepares those
rows in memory first, then times only SQLite storing them in batches, each batch one
transaction and one fsync, with prepared statements re-used (no SQL parsing per batch).

    python3 bench/sqlite_floor.py [TRANSFERS] [BATCH]      # defaults 60000 128

It prints SQLite's CPU per transfer (with the Python module's binding of each row, a few us)
and what one thread could commit per second at that cost, for the rows as stored and for three
slimmer layouts (what-ifs, not what the bank does).
"""
import glob
import os
import random
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = sorted(glob.glob(os.path.join(HERE, "..", "migrations", "*.sql")))
DOCUMENT = "11222333000181"


WRITTEN = ("entries", "legs", "transfers", "transfer_legs", "idempotency_keys", "limit_debits")


def schema(without_rowid):
    """The schema the migrations build, as SQL; optionally with the written tables WITHOUT ROWID
    (each row then lives in its primary key's b-tree instead of a rowid b-tree plus an index)."""
    built = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        built.executescript(open(migration).read())
    statements = []
    for kind, name, sql in built.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type = 'index', rowid"):
        if without_rowid and kind == "table" and name in WRITTEN:
            sql += " WITHOUT ROWID"
        statements.append(sql + ";")
    return "\n".join(statements)


def database(path, partial_indexes, without_rowid=False):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(schema(without_rowid))
    if partial_indexes:
        db.executescript(
            "DROP INDEX transfers_pending; CREATE INDEX transfers_pending ON transfers (status, created_at_ms) WHERE status = 'pending';"
            "DROP INDEX transfers_by_refund_of; CREATE INDEX transfers_by_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;"
        )
    return db


def batches(count, size, accounts):
    """Every batch's rows, built before the clock starts."""
    now = int(time.time() * 1000)
    legs_of = {a: 0 for a in accounts}
    out = []
    for first in range(0, count - count % size, size):
        rows = {t: [] for t in ("entries", "legs", "transfers", "transfer_legs", "keys", "limit_debits")}
        touched = set()
        for n in range(first, first + size):
            tid = "tr_%012x%012x" % (now + n // 1000, random.getrandbits(48))
            debit, credit = random.sample(accounts, 2)
            legs_of[debit] += 1
            legs_of[credit] += 1
            touched.update((debit, credit))
            rows["entries"].append((tid, "transfer", "wrk", DOCUMENT, now))
            rows["legs"].append((tid, 0, debit, -1, legs_of[debit], 10**8 - 1, "transfer", "wrk", now))
            rows["legs"].append((tid, 1, credit, 1, legs_of[credit], 10**8 + 1, "transfer", "wrk", now))
            rows["transfers"].append((tid, "transfer", DOCUMENT, "wrk", tid, now))
            rows["transfer_legs"].append((tid, 0, "debit", "A", debit, 1))
            rows["transfer_legs"].append((tid, 1, "credit", "A", credit, 1))
            rows["keys"].append((DOCUMENT, "wrk-%d" % n, "%064x" % random.getrandbits(256), tid, "committed", None, None, now))
            rows["limit_debits"].append((debit, tid, 1, now, DOCUMENT))
        rows["accounts"] = [(a,) for a in sorted(touched)]
        out.append(rows)
    return out


STATEMENTS = {
    "entries": "INSERT INTO entries (id, kind, description, initiated_by, created_at_ms) VALUES (?, ?, ?, ?, ?)",
    "legs": "INSERT INTO legs (entry_id, position, account, amount_cents, account_leg_number, balance_after_cents, kind, "
    "description, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "transfers": "INSERT INTO transfers (id, kind, initiated_by, description, status, reason, entry_id, created_at_ms) "
    "VALUES (?, ?, ?, ?, 'committed', NULL, ?, ?)",
    "transfer_legs": "INSERT INTO transfer_legs (transfer_id, position, side, bank, account, amount_cents) VALUES (?, ?, ?, ?, ?, ?)",
    "keys": "INSERT INTO idempotency_keys (document, idem_key, request_hash, result_id, result_status, refusal_kind, "
    "refusal_detail, created_at_ms, status_code, response_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
    "limit_debits": "INSERT INTO limit_debits (account, transfer_id, amount_cents, at_ms, initiated_by) VALUES (?, ?, ?, ?, ?)",
    "accounts": "UPDATE accounts SET balance_cents = balance_cents + 0, leg_count = leg_count + 1 WHERE number = ?",
}


def run(label, count, size, skip=(), partial_indexes=False, without_rowid=False):
    with tempfile.TemporaryDirectory() as directory:
        db = database(os.path.join(directory, "floor.sqlite3"), partial_indexes, without_rowid)
        accounts = ["%08d" % i for i in range(40)]
        for number in accounts:
            db.execute("INSERT INTO accounts (number, kind, balance_cents, created_at_ms) VALUES (?, 'company', 100000000, 0)", (number,))
        work = batches(count, size, accounts)
        cpu, wall = time.process_time(), time.perf_counter()
        for rows in work:
            db.execute("BEGIN IMMEDIATE")
            for table, sql in STATEMENTS.items():
                if table not in skip:
                    db.executemany(sql, rows[table])
            db.execute("COMMIT")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = len(work) * size
        print(f"{label:<58} {cpu / done * 1e6:6.1f} us CPU per transfer, {done / wall:7.0f}/s on one thread "
              f"({len(work)} commits of {size})")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    print(f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL; {count} one-centavo transfers among 40 accounts")
    run("as the bank stores them (8 rows, 24 b-tree insertions)", count, size)
    run("what-if: partial indexes on transfers (pending, refunds)", count, size, partial_indexes=True)
    run("what-if: also no transfer_legs, no limit_debits rows", count, size, skip=("transfer_legs", "limit_debits"), partial_indexes=True)
    run("what-if: those, and the tables WITHOUT ROWID", count, size, skip=("transfer_legs", "limit_debits"), partial_indexes=True,
        without_rowid=True)


if __name__ == "__main__":
    main()
