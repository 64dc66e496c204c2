//! The token inspector, for developers studying token storage: what the in-memory access token
//! says, when it expires, every refresh and why, and a live audit of everything script can see
//! in web storage and cookies.

use leptos::prelude::*;
use std::time::Duration;

use crate::{
    audit::{self, Finding, Place},
    auth::{now_ms, schedule, use_auth, Status},
};

fn pretty(json: &str) -> String {
    crate::json::pretty(json).unwrap_or_else(|| json.to_owned())
}

fn storage_findings(
    storage: Option<web_sys::Storage>,
    place: Place,
    token: Option<&str>,
    out: &mut Vec<Finding>,
) {
    let Some(s) = storage else { return };
    let n = s.length().unwrap_or(0);
    for i in 0..n {
        if let Ok(Some(key)) = s.key(i) {
            let value = s.get_item(&key).ok().flatten().unwrap_or_default();
            out.push(audit::judge(place, &key, &value, token));
        }
    }
}

/// Reads everything a script on this page can read.
pub(crate) fn run_audit(token: Option<&str>) -> Vec<Finding> {
    let w = window();
    let mut out = Vec::new();
    storage_findings(
        w.local_storage().ok().flatten(),
        Place::LocalStorage,
        token,
        &mut out,
    );
    storage_findings(
        w.session_storage().ok().flatten(),
        Place::SessionStorage,
        token,
        &mut out,
    );
    use wasm_bindgen::JsCast;
    let cookies = document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default();
    for (k, v) in audit::parse_cookie_string(&cookies) {
        out.push(audit::judge(Place::Cookie, &k, &v, token));
    }
    out
}

#[component]
pub fn InspectorPage() -> impl IntoView {
    let a = use_auth();
    let now = RwSignal::new(now_ms());
    let findings = RwSignal::new(Vec::<Finding>::new());
    let idb = RwSignal::new(None::<Vec<String>>);
    let refresh_audit = move || {
        findings.set(run_audit(a.token().as_deref()));
        leptos::task::spawn_local(async move {
            idb.set(indexed_db_names().await);
        });
    };
    refresh_audit();
    if let Ok(h) = set_interval_with_handle(
        move || {
            now.set(now_ms());
            // Re-render the audit table only when what script can see has changed.
            let fresh = run_audit(a.token().as_deref());
            findings.maybe_update(|f| {
                let changed = *f != fresh;
                if changed {
                    *f = fresh;
                }
                changed
            });
        },
        Duration::from_millis(1000),
    ) {
        on_cleanup(move || h.clear());
    }
    let session = move || {
        a.status.with(|s| match s {
            Status::LoggedIn(sess) => Some(sess.clone()),
            _ => None,
        })
    };
    let timeline = move || {
        let mut v = a.events.get();
        v.reverse();
        v
    };
    let all_clear = move || findings.with(|f| f.iter().all(|x| !x.credential));

    view! {
        <section class="card">
            <h1>"Token inspector"</h1>
            <p class="lede">"Where each token lives right now, and why. Everything on this page is read live from this tab. The whole threat model: " <a href="/docs/security" rel="external">"Security model"</a> "."</p>
            <figure class="diagram">
                <img src="/docs/credentials.svg" alt="Where each credential lives and how it moves (in words on the Security model page)" width="960" height="600"/>
            </figure>
            <div class="grid2">
                <div class="panel">
                    <h2>"Access token"</h2>
                    <p>"Lives in: " <strong>"this tab's WebAssembly memory"</strong> " (a Rust value). Gone on reload; the silent refresh brings a new one. It is " <strong>"bound to this tab's key"</strong> " (DPoP: the claim " <code>"cnf.jkt"</code> "), a WebCrypto key the browser will not export; every request carries a fresh proof signed by it."</p>
                    {move || match session() {
                        None => view! { <p data-testid="no-token">"No access token in memory: you are not logged in."</p> }.into_any(),
                        Some(sess) => {
                            let (header, claims) = sess.decoded.as_ref()
                                .map(|d| (pretty(&d.header_json), pretty(&d.claims_json)))
                                .unwrap_or_default();
                            let (issued, life) = (sess.issued_ms, sess.lifetime_secs);
                            view! {
                                <p class="countdown" data-testid="countdown" aria-live="off">
                                    "Expires in " <strong>{move || schedule::seconds_left(issued, life, now.get())}</strong> " s"
                                    {format!(" (proactive refresh at 80% of its {} s life)", sess.lifetime_secs)}
                                </p>
                                // Focusable: a token's lines can be wider than the panel, and
                                // a keyboard alone must be able to scroll them.
                                <h3>"Header"</h3>
                                <pre data-testid="token-header" tabindex="0">{header}</pre>
                                <h3>"Claims"</h3>
                                <pre data-testid="token-claims" tabindex="0">{claims}</pre>
                            }.into_any()
                        }
                    }}
                </div>
                <div class="panel">
                    <h2>"Refresh token"</h2>
                    <p>"Lives in: " <strong>"an HttpOnly cookie"</strong> " set by the server: "
                        <code>"__Host-cloakroom_refresh"</code> ", " <code>"Secure; SameSite=Strict; Path=/"</code> "."</p>
                    <p>"JavaScript cannot read it — not this app, and not a script injected into this page. The browser attaches it to requests to this site only (the " <code>"__Host-"</code> " prefix: no other subdomain can set or overwrite it); only " <code>"/api/auth/*"</code> " reads it. The server stores only its SHA-256, rotates it on every use, and if an old one is ever replayed it ends the whole session."</p>
                    <h3>"If a script were injected here, it could…"</h3>
                    <ul>
                        <li>"find the access token in the app's memory (step 3 of the attack lab below does it);"</li>
                        <li>"call the API as you while the page is open, and even get a token bound to a key of its own (step 5): the browser sends the cookie for it;"</li>
                    </ul>
                    <h3>"…and it could not"</h3>
                    <ul>
                        <li>"read or copy the refresh token (HttpOnly);"</li>
                        <li>"find any token in localStorage, sessionStorage, IndexedDB or cookies (there is none — see the audit);"</li>
                        <li>"use the token it found anywhere else: without this tab's key every request is refused (step 4), and proofs it signs ahead of time with the key expire with the server's nonce within a minute;"</li>
                        <li>"keep access after you close the tab for longer than one token's lifetime (5 minutes: a new token needs the cookie, which only this browser sends), or at all after you log out."</li>
                    </ul>
                </div>
            </div>
        </section>
        <section class="card">
            <h2>"Refresh timeline"</h2>
            // Focusable: the list scrolls once it is long, and a keyboard must reach it.
            <ol class="timeline" data-testid="timeline" tabindex="0" aria-label="Refresh timeline">
                {move || timeline().into_iter().map(|e| view! {
                    <li class={if e.ok { "ok" } else { "bad" }}>
                        <time>{String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(e.at_ms)).to_locale_time_string("default"))}</time>
                        " " {e.what.clone()}
                    </li>
                }).collect_view()}
            </ol>
            {move || a.events.with(Vec::is_empty).then(|| view! { <p class="empty">"No refresh yet in this tab."</p> })}
        </section>
        <section class="card">
            <h2>"Storage audit"</h2>
            <p data-testid="audit-verdict" class=move || if all_clear() { "verdict ok" } else { "verdict bad" }>
                {move || if all_clear() { "All clear: no credential in any storage a script can read." } else { "Danger: a credential was found in script-readable storage." }}
            </p>
            <table data-testid="audit-table">
                <thead><tr><th scope="col">"Where"</th><th scope="col">"Key"</th><th scope="col">"Verdict"</th></tr></thead>
                <tbody>
                    {move || findings.get().into_iter().map(|f| view! {
                        <tr data-testid="audit-row" data-credential=f.credential.to_string()>
                            <td>{f.place.label()}</td><td><code>{f.key.clone()}</code></td>
                            <td>{if f.credential { format!("credential: {}", f.reason) } else { format!("ok: {}", f.reason) }}</td>
                        </tr>
                    }).collect_view()}
                    <tr><td>"IndexedDB"</td><td colspan="2" data-testid="audit-idb">{move || match idb.get() {
                        None => "not inspectable in this browser".to_owned(),
                        Some(v) if v.is_empty() => "ok: no databases".to_owned(),
                        Some(v) => format!("databases: {} (this app creates none)", v.join(", ")),
                    }}</td></tr>
                </tbody>
            </table>
            <p class="hint">"localStorage holds only " <code>"cloakroom.theme"</code> " (your light/dark choice) and " <code>"cloakroom.clock-skew-ms"</code> " (how far your clock is from the server's, for dating DPoP proofs), kept with gloo-storage; neither is a credential."</p>
            <button class="ghost" on:click=move |_| refresh_audit()>"Re-run audit"</button>
        </section>
        <super::lab::AttackLab/>
    }
}

/// Names of this origin's IndexedDB databases (`indexedDB.databases()`), if the browser says.
pub(crate) async fn indexed_db_names() -> Option<Vec<String>> {
    use wasm_bindgen::JsCast;
    let factory = window().indexed_db().ok().flatten()?;
    let f = js_sys::Reflect::get(&factory, &"databases".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let p = f.call0(&factory).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let list = wasm_bindgen_futures::JsFuture::from(p).await.ok()?;
    let arr = list.dyn_into::<js_sys::Array>().ok()?;
    Some(
        arr.iter()
            .filter_map(|d| {
                js_sys::Reflect::get(&d, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
            })
            .collect(),
    )
}
