//! Notes CRUD and isolation between users.

use crate::helpers::*;
use api_types::Note;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn crud_round_trip() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let list = app.get_auth("/api/notes", &l.access).await;
    assert_eq!(list.json::<Vec<Note>>().await.unwrap(), vec![]);

    let res = app
        .client
        .post(app.url("/api/notes"))
        .bearer_auth(&l.access)
        .json(&json!({"title": " Groceries ", "body": "<b>eggs</b>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let note: Note = res.json().await.unwrap();
    assert_eq!(
        (note.title.as_str(), note.body.as_str()),
        ("Groceries", "<b>eggs</b>")
    );

    let got: Note = app
        .get_auth(&format!("/api/notes/{}", note.id), &l.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, note);

    let res = app
        .client
        .put(app.url(&format!("/api/notes/{}", note.id)))
        .bearer_auth(&l.access)
        .header("if-match", format!("\"{}\"", note.version))
        .json(&json!({"title": "Groceries", "body": "milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Note>().await.unwrap().body, "milk");

    let list: Vec<Note> = app
        .get_auth("/api/notes", &l.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);

    let res = app
        .client
        .delete(app.url(&format!("/api/notes/{}", note.id)))
        .bearer_auth(&l.access)
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get_auth(&format!("/api/notes/{}", note.id), &l.access)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn another_users_note_is_404_for_every_verb() {
    let app = spawn_app().await;
    let (_, a) = app.new_user().await;
    let (_, b) = app.new_user().await;
    let note: Note = app
        .client
        .post(app.url("/api/notes"))
        .bearer_auth(&a.access)
        .json(&json!({"title": "private", "body": "a's secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = app.url(&format!("/api/notes/{}", note.id));
    assert_problem(
        app.client
            .get(&url)
            .bearer_auth(&b.access)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let put = app
        .client
        .put(&url)
        .bearer_auth(&b.access)
        .header("if-match", "*")
        .json(&json!({"title": "pwned"}))
        .send()
        .await
        .unwrap();
    assert_problem(put, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.client
            .delete(&url)
            .bearer_auth(&b.access)
            .header("if-match", format!("\"{}\"", note.version))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let b_list: Vec<Note> = app
        .get_auth("/api/notes", &b.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(b_list.is_empty());
    // A's note is untouched.
    let got: Note = app
        .get_auth(&format!("/api/notes/{}", note.id), &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got.title, "private");
}

#[tokio::test]
async fn validation_and_limits() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let post = |body: serde_json::Value| {
        app.client
            .post(app.url("/api/notes"))
            .bearer_auth(&l.access)
            .json(&body)
            .send()
    };
    let p = assert_problem(
        post(json!({"title": "", "body": "x"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("title"));
    assert_problem(
        post(json!({"title": "t".repeat(201)})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let p = assert_problem(
        post(json!({"title": "big", "body": "b".repeat(64 * 1024 + 1)}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("64 KiB"), "{p}");
    assert_eq!(
        post(json!({"title": "max", "body": "b".repeat(64 * 1024)}))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        post(json!({"title": "huge", "body": "b".repeat(300 * 1024)}))
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_problem(
        post(json!({"title": "x", "owner": "someone"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Without a token: 401, not 404.
    assert_problem(app.get("/api/notes").await, StatusCode::UNAUTHORIZED).await;
}

/// Notes come back most recently written first, in the exact order of the user's writes, even
/// when they all land within one second (the timestamps are whole seconds and the ids random,
/// so neither can order them).
#[tokio::test]
async fn list_order_is_the_order_of_writes_within_one_second() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let write = |method: reqwest::Method, path: String, title: String| {
        let req = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&l.access)
            .header("if-match", "*")
            .json(&json!({ "title": title }));
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<Note>().await.unwrap()
        }
    };
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            write(reqwest::Method::POST, "/api/notes".into(), format!("n{i}"))
                .await
                .id,
        );
    }
    // Touch two older ones: each moves to the top, in the order touched.
    for i in [3, 0] {
        write(
            reqwest::Method::PUT,
            format!("/api/notes/{}", ids[i]),
            format!("n{i}*"),
        )
        .await;
    }
    let titles: Vec<String> = app
        .get_auth("/api/notes", &l.access)
        .await
        .json::<Vec<Note>>()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.title)
        .collect();
    let expected: Vec<String> = ["n0*", "n3*"]
        .into_iter()
        .map(String::from)
        .chain(
            (0..12)
                .rev()
                .filter(|i| ![0, 3].contains(i))
                .map(|i| format!("n{i}")),
        )
        .collect();
    assert_eq!(titles, expected);
}

/// Two tabs edit one note: the later save, based on the version both read, is refused (412)
/// instead of silently overwriting the earlier one; the ETag is the version. A write or delete
/// that names no version at all is refused too (428), so no client overwrites by omission.
#[tokio::test]
async fn a_stale_write_is_refused_not_lost() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let res = app
        .client
        .post(app.url("/api/notes"))
        .bearer_auth(&l.access)
        .json(&json!({"title": "Shared title", "body": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let note: Note = res.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", note.version));
    let url = app.url(&format!("/api/notes/{}", note.id));
    let read = app
        .get_auth(&format!("/api/notes/{}", note.id), &l.access)
        .await;
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    let put = |title: &'static str, if_match: Option<String>| {
        let mut req = app
            .client
            .put(&url)
            .bearer_auth(&l.access)
            .json(&json!({ "title": title }));
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        req.send()
    };
    // A writer that names no version writes nothing.
    let blind = put("Shared title, blind", None).await.unwrap();
    let p = assert_problem(blind, StatusCode::PRECONDITION_REQUIRED).await;
    assert!(p["detail"].as_str().unwrap().contains("If-Match"), "{p}");
    let blind_delete = app
        .client
        .delete(&url)
        .bearer_auth(&l.access)
        .send()
        .await
        .unwrap();
    assert_problem(blind_delete, StatusCode::PRECONDITION_REQUIRED).await;
    assert_eq!(
        app.get_auth(&format!("/api/notes/{}", note.id), &l.access)
            .await
            .json::<Note>()
            .await
            .unwrap(),
        note
    );
    // Tab A saves first, on the version both tabs read.
    let a = put("Shared title from A", Some(etag.clone()))
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    let a_etag = a.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(a_etag, etag);
    // Tab B saves on the same, now old, version: refused, and A's text stands.
    let b = put("Shared title from B", Some(etag.clone()))
        .await
        .unwrap();
    let p = assert_problem(b, StatusCode::PRECONDITION_FAILED).await;
    assert!(
        p["detail"].as_str().unwrap().contains("changed elsewhere"),
        "{p}"
    );
    for bad in [
        "\"bogus\"",
        "W/\"1\"",
        "",
        "1",
        "\"-1\"",
        "\"-5\"",
        "\"+1\"",
        "\"99999999999999999999\"",
    ] {
        let res = put("Shared title from B", Some(bad.into())).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::PRECONDITION_FAILED,
            "If-Match: {bad:?}"
        );
    }
    let now: Note = app
        .get_auth(&format!("/api/notes/{}", note.id), &l.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now.title, "Shared title from A");
    // A delete on the old version is refused as well; on the current one (or a list naming
    // it) it goes through.
    let del = |m: String| {
        app.client
            .delete(&url)
            .bearer_auth(&l.access)
            .header("if-match", m)
            .send()
    };
    assert_eq!(
        del(etag.clone()).await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        del(format!("{etag}, {a_etag}")).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // Gone: a second delete (another tab's) is 404 whatever it names.
    assert_eq!(
        del("*".into()).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
