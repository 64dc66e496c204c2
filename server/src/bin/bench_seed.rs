//! Seeds a database for `make bench`: one user and N sessions, printing each session's refresh
//! token on its own line. Goes through the same store functions as login, minus argon2.
//!
//!     bench-seed <data-dir | database-url> <count> [dpop] > tokens.txt
//!
//! `dpop`: the sessions are DPoP-bound, as a browser's are (its login carried a proof), so each
//! refresh must carry a proof too: the browser's path.

use cloakroom::{auth::refresh, store};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bench-seed <data-dir> <count>"))?;
    let count: usize = args.next().unwrap_or_else(|| "1000".into()).parse()?;
    let dpop_bound = match args.next().as_deref() {
        None => false,
        Some("dpop") => true,
        Some(other) => {
            anyhow::bail!("unknown option {other:?}: usage: bench-seed <data-dir> <count> [dpop]")
        }
    };
    // A data directory (SQLite) or a database URL (`make bench` seeds PostgreSQL too).
    let db = if dir.contains("://") {
        store::Db::connect(&store::Location::parse(&dir)?).await?
    } else {
        store::Db::open(std::path::Path::new(&dir)).await?
    };
    let now = cloakroom::clock::Clock::system().now();
    let user = match store::users::find_by_username(&db, "bench_refresh").await? {
        Some(u) => u,
        None => {
            match store::users::create(&db, "bench_refresh", "$argon2id$unusable", now).await? {
                store::users::CreateUser::Created(u) => u,
                store::users::CreateUser::UsernameTaken => {
                    anyhow::bail!("race creating bench user")
                }
            }
        }
    };
    let life = store::sessions::Lifetimes {
        refresh_idle: 86_400,
        session_max: 7 * 86_400,
        reuse_grace: 10,
    };
    // 32 sessions in flight at once: PostgreSQL commits them in groups (one at a time, a
    // durable cluster would spend a minute on fsyncs); SQLite's one writer queues them anyway.
    let user = std::sync::Arc::new(user);
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = String::with_capacity(count * 44);
    for i in 0..count {
        if i >= 32 {
            let token: String = tasks.join_next().await.expect("a task")??;
            out.push_str(&token);
        }
        let (db, user) = (db.clone(), user.clone());
        tasks.spawn(async move {
            let t = refresh::generate();
            let new = store::sessions::NewSession {
                user_id: &user.id,
                password_hash: &user.password_hash,
                persistent: true,
                dpop_bound,
                user_agent: Some("bench"),
                ip: None,
                oidc: None,
            };
            store::sessions::create(&db, &new, &user.username, &user.roles, &t.hash, now, life)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the password changed while seeding"))?;
            anyhow::Ok(t.token + "\n")
        });
    }
    while let Some(t) = tasks.join_next().await {
        let token: String = t??;
        out.push_str(&token);
    }
    print!("{out}");
    db.close().await;
    Ok(())
}
