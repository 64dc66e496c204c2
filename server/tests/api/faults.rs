//! The database in trouble, caused for real (no mocks, nothing mounted): a lock another process
//! holds, a database with no room left. Each answer says what happened and that nothing was
//! saved (503 `database-busy` with `Retry-After`, 507 `storage-full`), never a bare 500; nothing
//! acknowledged is lost, a refused refresh leaves the cookie working, and `/readyz` tells a load
//! balancer while writes fail for lack of space.

use api_types::{Note, ProblemType};
use cloakroom::store::testing::{execute, fetch_ints};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::*;

async fn create_note(app: &TestApp, access: &str, title: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/notes"))
        .bearer_auth(access)
        .json(&json!({"title": title, "body": body}))
        .send()
        .await
        .unwrap()
}

async fn titles(app: &TestApp, access: &str) -> Vec<String> {
    let res = app.get_auth("/api/notes", access).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "reads work whatever the writes do"
    );
    let mut t: Vec<String> = res
        .json::<Vec<Note>>()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.title)
        .collect();
    t.sort();
    t
}

async fn assert_typed(res: reqwest::Response, status: StatusCode, kind: ProblemType) -> Value {
    let retry_after = res.headers().get("retry-after").cloned();
    let body = assert_problem(res, status).await;
    assert_eq!(body["type"], kind.uri(), "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("saved nothing"),
        "the answer says nothing was saved: {body}"
    );
    if kind == ProblemType::DatabaseBusy {
        let secs: u64 = retry_after
            .expect("a busy answer says when to retry")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs >= 1);
    }
    body
}

/// Another connection to this test server's database, holding what a note write and a refresh
/// need: SQLite's write lock (`BEGIN IMMEDIATE`, as a backup or a second process would), or on
/// PostgreSQL the rows' locks (so the server's `lock_timeout` runs out).
enum Holder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Holder {
    async fn hold(app: &TestApp) -> Self {
        match postgres_for(&app.dir).await {
            None => {
                let path = app.dir.path().join("cloakroom.db");
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Holder::Sqlite(c)
            }
            Some(url) => {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                for sql in [
                    "BEGIN",
                    "SELECT 1 FROM users FOR UPDATE",
                    "SELECT 1 FROM refresh_tokens FOR UPDATE",
                ] {
                    sqlx::query(sql).execute(&mut c).await.unwrap();
                }
                Holder::Postgres(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Holder::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            Holder::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_held_write_lock_answers_503_saves_nothing_and_keeps_the_cookie() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    assert_eq!(
        create_note(&app, &l.access, "before", "kept")
            .await
            .status(),
        StatusCode::CREATED
    );

    let holder = Holder::hold(&app).await;
    let res = create_note(&app, &l.access, "during", "refused").await;
    assert_typed(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemType::DatabaseBusy,
    )
    .await;
    let res = app.refresh_raw(&l.refresh).await;
    assert!(
        refresh_cookie(res.headers()).is_none(),
        "a refused refresh sets no cookie"
    );
    assert_typed(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemType::DatabaseBusy,
    )
    .await;
    assert_eq!(titles(&app, &l.access).await, ["before"]);
    holder.release().await;

    // The lock is gone: the very cookie that was refused refreshes, nothing refused was saved,
    // and writes work again.
    let res = app.refresh_raw(&l.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (next, _) = refresh_cookie(res.headers()).expect("rotated");
    assert_ne!(next, l.refresh);
    assert_eq!(
        create_note(&app, &l.access, "after", "saved")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(titles(&app, &l.access).await, ["after", "before"]);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

/// SQLite's `max_page_count` on the server's own writer connection fills the database exactly as
/// a full disk would, without mounting a small filesystem. (This test forces SQLite: the
/// PostgreSQL equivalent, `disk_full`, needs a filesystem to fill.)
#[tokio::test]
async fn a_full_database_answers_507_keeps_everything_and_readyz_follows() {
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    let app = spawn_in(dir, &[("CLOAKROOM_DATABASE_URL", &url)]).await;
    let (_, l) = app.new_user().await;
    let db = &app.state.db;
    let pages = fetch_ints(db, "PRAGMA page_count").await.unwrap()[0];
    execute(db, &format!("PRAGMA max_page_count = {}", pages + 6), &[])
        .await
        .unwrap();

    let body = "x".repeat(3000);
    let mut saved = Vec::new();
    let full = loop {
        assert!(saved.len() < 200, "the database never filled");
        let title = format!("note {}", saved.len());
        let res = create_note(&app, &l.access, &title, &body).await;
        match res.status() {
            StatusCode::CREATED => saved.push(title),
            _ => break res,
        }
    };
    assert!(!saved.is_empty(), "some notes fit before it filled");
    assert_typed(
        full,
        StatusCode::INSUFFICIENT_STORAGE,
        ProblemType::StorageFull,
    )
    .await;
    saved.sort();
    assert_eq!(
        titles(&app, &l.access).await,
        saved,
        "every acknowledged note is kept"
    );

    let ready = app.get("/readyz").await;
    let problem = assert_problem(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("out of space"),
        "{problem}"
    );
    // Still full: readiness stays off, however often it is asked.
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Space returns: readiness and writes come back, and nothing was lost on the way.
    execute(db, "PRAGMA max_page_count = 1073741823", &[])
        .await
        .unwrap();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(
        create_note(&app, &l.access, "zz after", "saved")
            .await
            .status(),
        StatusCode::CREATED
    );
    saved.push("zz after".into());
    assert_eq!(titles(&app, &l.access).await, saved);
}
