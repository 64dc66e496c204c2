//! For tests that reach under the API: backdating a row, reading exactly what is stored. Runs one
//! statement (in the shared dialect: `$N` placeholders) on either engine. Not used by the server.

use super::{with_pool, Db};

/// A value to bind.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// Runs `sql` with `args`; returns the number of rows it touched.
pub async fn execute(db: &Db, sql: &str, args: &[Arg]) -> sqlx::Result<u64> {
    with_pool!(db, write, p => {
        let mut q = sqlx::query(sql);
        for a in args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
                Arg::Bytes(v) => q.bind(v.clone()),
            };
        }
        Ok(q.execute(p).await?.rows_affected())
    })
}

/// The first column of every row `sql` returns, as bytes.
pub async fn fetch_bytes(db: &Db, sql: &str) -> sqlx::Result<Vec<Vec<u8>>> {
    with_pool!(db, read, p => sqlx::query_scalar(sql).fetch_all(p).await)
}

/// The first column of every row `sql` returns, as integers.
pub async fn fetch_ints(db: &Db, sql: &str) -> sqlx::Result<Vec<i64>> {
    with_pool!(db, read, p => sqlx::query_scalar(sql).fetch_all(p).await)
}

/// A new, empty database on the PostgreSQL server of `admin_url` (a throwaway test cluster,
/// `.ci/with-postgres`); returns its URL. Every test server gets its own, so tests run in
/// parallel without seeing each other.
pub async fn fresh_postgres_database(admin_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    // (`name` is ours: hex only, safe to splice; CREATE DATABASE takes no parameters.)
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .ok_or_else(|| anyhow::anyhow!("admin URL has no database part"))?;
    Ok(format!("{base}/{name}"))
}
