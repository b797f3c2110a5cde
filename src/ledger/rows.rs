//! Multi-row SQL for the writer's batches, on SQLite and PostgreSQL alike: look-ups of many
//! keys in one statement (`lookup`) and inserts or updates of many rows in one (`write_rows`),
//! with the placeholders each backend wants. Used by the fast path for local movements
//! (`batch`), the cross-bank jobs (`cross_rows`) and the limits (`limits`).

use sqlx::AnyConnection;

/// Parameters per statement at most (SQLite allows 32,766, PostgreSQL 65,535): a table's rows
/// of a whole batch fit in one statement up to this.
const PARAMETERS_MAX: usize = 30_000;

/// Keys looked up per statement: the list is padded to one of these sizes with its last key
/// (the answer is the same set of rows), so reads have three shapes.
const LOOKUP_ROWS: [usize; 3] = [8, 64, 512];

/// Runs `head (keys) tail` over `keys` (`width` per row), padded to one of `LOOKUP_ROWS` rows
/// per statement by repeating the last row; the rows read may repeat.
pub(super) async fn lookup<T>(
    connection: &mut AnyConnection,
    head: &str,
    tail: &str,
    width: usize,
    keys: &[&str],
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let total = keys.len() / width;
    let largest = LOOKUP_ROWS[LOOKUP_ROWS.len() - 1];
    let (mut done, mut found) = (0, Vec::new());
    while done < total {
        let take = (total - done).min(largest);
        let size = LOOKUP_ROWS.into_iter().find(|size| *size >= take).unwrap_or(largest);
        let sql = format!("{head}{}{tail}", placeholders(connection, size, width));
        let mut query = sqlx::query_as::<_, T>(&sql);
        for row in 0..size {
            let row = done + row.min(take - 1);
            for key in &keys[row * width..(row + 1) * width] {
                query = query.bind(*key);
            }
        }
        found.extend(query.fetch_all(&mut *connection).await?);
        done += take;
    }
    Ok(found)
}

#[derive(Clone, Debug)]
pub(super) enum Value {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
}

pub(super) fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

/// Binds `value` as the query's next parameter.
pub(super) fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    value: &'q Value,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    match value {
        Value::Text(text) => query.bind(text.as_str()),
        Value::MaybeText(text) => query.bind(text.as_deref()),
        Value::Int(number) => query.bind(*number),
        Value::MaybeInt(number) => query.bind(*number),
    }
}

/// Runs `head (rows) tail` over `values`, as few statements as the parameter limit allows
/// (one per table for any batch the writer takes); returns the rows affected. Each statement
/// has the batch's own number of rows, so it is prepared for this batch and not cached:
/// preparing costs less than the round trips to the database that chunks of fixed sizes took.
pub(super) async fn write_rows(
    connection: &mut AnyConnection,
    head: &str,
    tail: &str,
    width: usize,
    values: &[Value],
) -> Result<u64, sqlx::Error> {
    let total = values.len() / width;
    let (mut done, mut affected) = (0, 0);
    while done < total {
        let size = (total - done).min(PARAMETERS_MAX / width);
        let sql = format!("{head}{}{tail}", placeholders(connection, size, width));
        let mut query = sqlx::query(&sql).persistent(false);
        for value in &values[done * width..(done + size) * width] {
            query = bind(query, value);
        }
        affected += query.execute(&mut *connection).await?.rows_affected();
        done += size;
    }
    Ok(affected)
}

/// One multi-row statement of `write_together`: `head (rows) tail` over `values`, `width` per
/// row, which must affect exactly one row per row of `values`; `what` it writes names it in
/// an error.
pub(super) struct Statement<'a> {
    pub what: &'a str,
    pub head: &'a str,
    pub tail: &'a str,
    pub width: usize,
    pub values: &'a [Value],
}

/// Runs several multi-row statements (as `write_rows` would, empty ones skipped) and checks
/// that each affected one row per row given. On SQLite they go to the connection's thread as
/// ONE query of several statements (sqlx binds the `?` of each statement in turn), so a batch
/// pays one round trip between the writer task and that thread instead of one per table; a
/// database server gets them one by one (its protocol prepares one statement at a time).
/// SQLite reports the rows affected by the whole query, so the check there is on the sum: an
/// INSERT affects all its rows or fails, and an UPDATE at most its rows, so a sum short of the
/// rows given is one statement short.
pub(super) async fn write_together(connection: &mut AnyConnection, statements: &[Statement<'_>]) -> Result<(), Unwritten> {
    if connection.backend_name() != "SQLite" {
        for statement in statements {
            let rows = statement.values.len() / statement.width;
            let written = write_rows(connection, statement.head, statement.tail, statement.width, statement.values).await?;
            if written != rows as u64 {
                return Err(Unwritten::Short(format!("{}: {written} rows changed, {rows} expected", statement.what)));
            }
        }
        return Ok(());
    }
    let (mut sql, mut expected) = (String::new(), 0u64);
    let mut query_values: Vec<&Value> = Vec::new();
    for statement in statements {
        let total = statement.values.len() / statement.width;
        let mut done = 0;
        while done < total {
            let size = (total - done).min(PARAMETERS_MAX / statement.width);
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(statement.head);
            sql.push_str(&placeholders(connection, size, statement.width));
            sql.push_str(statement.tail);
            query_values.extend(&statement.values[done * statement.width..(done + size) * statement.width]);
            done += size;
        }
        expected += total as u64;
    }
    if sql.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::query(&sql).persistent(false);
    for value in query_values {
        query = bind(query, value);
    }
    let written = query.execute(&mut *connection).await?.rows_affected();
    if written != expected {
        let whats: Vec<&str> = statements.iter().filter(|s| !s.values.is_empty()).map(|s| s.what).collect();
        return Err(Unwritten::Short(format!("{}: {written} rows changed, {expected} expected", whats.join(", "))));
    }
    Ok(())
}

/// Why `write_together` failed: the database refused a statement, or the statements changed
/// fewer rows than they were given (`Short`: what they write, and the counts).
#[derive(Debug)]
pub(super) enum Unwritten {
    Database(sqlx::Error),
    Short(String),
}

impl From<sqlx::Error> for Unwritten {
    fn from(error: sqlx::Error) -> Self {
        Unwritten::Database(error)
    }
}

impl From<Unwritten> for sqlx::Error {
    fn from(error: Unwritten) -> Self {
        match error {
            Unwritten::Database(error) => error,
            Unwritten::Short(detail) => sqlx::Error::Protocol(detail),
        }
    }
}

impl std::fmt::Display for Unwritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unwritten::Database(error) => write!(f, "{error}"),
            Unwritten::Short(detail) => f.write_str(detail),
        }
    }
}

/// `($1, $2), ($3, $4)` for rows = 2, width = 2 on PostgreSQL; `(?, ?), (?, ?)` on SQLite,
/// whose numbered parameters cost a linear search per parameter when bound (a quadratic cost
/// that showed up at 5% of the bank's CPU with 1,500 parameters per statement).
fn placeholders(connection: &AnyConnection, rows: usize, width: usize) -> String {
    let numbered = connection.backend_name() != "SQLite";
    let mut sql = String::with_capacity(rows * width * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * width + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn table(connection: &mut AnyConnection) -> Vec<(String, i64)> {
        sqlx::query_as("SELECT k, n FROM t ORDER BY k").fetch_all(&mut *connection).await.unwrap()
    }

    /// SQLite's one query of several statements: each statement's values land in its own
    /// columns (the `?` are bound across statements in turn), a table too large for one
    /// statement is split, empty statements are skipped, and a statement that affects fewer rows
    /// than it was given fails the call.
    #[tokio::test]
    async fn statements_written_together_bind_their_own_values_and_a_short_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let pool = super::super::db::sqlite_file_for_tests(&dir.path().join("rows.sqlite3")).await;
        let mut connection = pool.acquire().await.unwrap();
        for ddl in ["CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)", "CREATE TABLE u (k TEXT NOT NULL, note TEXT)"] {
            sqlx::query(ddl).execute(&mut *connection).await.unwrap();
        }
        let insert_t = "INSERT INTO t (k, n) VALUES ";
        let update_t = ("UPDATE t SET n = n + v.column2 FROM (VALUES ", ") AS v WHERE t.k = v.column1");
        let t_rows = [text("a"), Value::Int(1), text("b"), Value::Int(2)];
        let u_rows = [text("a"), Value::MaybeText(Some("x".into())), text("b"), Value::MaybeText(None)];
        let update = [text("b"), Value::Int(40)];
        write_together(
            &mut connection,
            &[
                Statement { what: "t", head: insert_t, tail: "", width: 2, values: &t_rows },
                Statement { what: "t", head: "INSERT INTO u (k, note) VALUES ", tail: "", width: 2, values: &u_rows },
                Statement { what: "t", head: "INSERT INTO u (k, note) VALUES ", tail: "", width: 2, values: &[] },
                Statement { what: "t", head: update_t.0, tail: update_t.1, width: 2, values: &update },
            ],
        )
        .await
        .unwrap();
        assert_eq!(table(&mut connection).await, [("a".to_string(), 1), ("b".to_string(), 42)]);
        let notes: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT k, note FROM u ORDER BY k").fetch_all(&mut *connection).await.unwrap();
        assert_eq!(notes, [("a".to_string(), Some("x".to_string())), ("b".to_string(), None)]);

        // More rows than one statement's parameters allow: two statements in the one query.
        let many: Vec<Value> = (0..PARAMETERS_MAX / 2 + 7).flat_map(|i| [text(&format!("m{i:06}")), Value::Int(i as i64)]).collect();
        write_together(&mut connection, &[Statement { what: "t", head: insert_t, tail: "", width: 2, values: &many }]).await.unwrap();
        let (count, sum): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), SUM(n) FROM t WHERE k LIKE 'm%'").fetch_one(&mut *connection).await.unwrap();
        let rows = (PARAMETERS_MAX / 2 + 7) as i64;
        assert_eq!((count, sum), (rows, rows * (rows - 1) / 2));

        // An UPDATE that finds one of its two rows, after an INSERT that wrote both of its own.
        sqlx::query("BEGIN").execute(&mut *connection).await.unwrap();
        let fresh = [text("c"), Value::Int(3), text("d"), Value::Int(4)];
        let short = [text("a"), Value::Int(1), text("nowhere"), Value::Int(1)];
        let error = write_together(
            &mut connection,
            &[
                Statement { what: "new rows", head: insert_t, tail: "", width: 2, values: &fresh },
                Statement { what: "sums", head: update_t.0, tail: update_t.1, width: 2, values: &short },
            ],
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("new rows, sums: 3 rows changed, 4 expected"), "{error}");
        sqlx::query("ROLLBACK").execute(&mut *connection).await.unwrap();
        // A failing statement (a key already there) fails the call.
        let duplicate = [text("e"), Value::Int(5), text("a"), Value::Int(1)];
        let error = write_together(&mut connection, &[Statement { what: "t", head: insert_t, tail: "", width: 2, values: &duplicate }])
            .await
            .unwrap_err();
        assert!(matches!(&error, Unwritten::Database(e) if e.to_string().contains("UNIQUE")), "{error}");
        assert_eq!(table(&mut connection).await[..2], [("a".to_string(), 1), ("b".to_string(), 42)]);
        assert_eq!(
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM t WHERE k IN ('c', 'd', 'e')").fetch_one(&mut *connection).await.unwrap().0,
            0
        );
    }
}
