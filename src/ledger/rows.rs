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
