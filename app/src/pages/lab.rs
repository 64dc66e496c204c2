//! The attack lab (in the token inspector): on the user's click it does, from inside this page,
//! exactly what an injected script would, and says what each step got. Nothing here uses
//! `eval` or inline script: it is ordinary code of this app, so it runs under the same strict
//! CSP an injected script would have to get past first. Each step links to the paragraph of
//! docs/security.md (the page /docs/security) that explains it.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{self, dpop};

/// The five steps: what the script tries, and where docs/security.md explains it.
const STEPS: [(&str, &str); 5] = [
    (
        "Search localStorage, sessionStorage, IndexedDB and document.cookie for credentials",
        "lab-step-1",
    ),
    ("Read the refresh cookie", "lab-step-2"),
    (
        "Scan this app's WebAssembly memory for tokens",
        "lab-step-3",
    ),
    (
        "Replay the token found from elsewhere, without this tab's key",
        "lab-step-4",
    ),
    ("Ask /api/auth/refresh for a token of its own", "lab-step-5"),
];

/// A step's outcome: whether the attacker got something, and what happened, in plain words.
type Outcome = (bool, String);

/// Every JWT-shaped run of bytes in `mem` (`eyJ…` with two dots), each once.
pub fn find_tokens(mem: &[u8]) -> Vec<String> {
    let jwt = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i + 3 <= mem.len() {
        if &mem[i..i + 3] != b"eyJ" {
            i += 1;
            continue;
        }
        let end = mem[i..]
            .iter()
            .position(|b| !jwt(*b))
            .map_or(mem.len(), |n| i + n);
        let s = String::from_utf8_lossy(&mem[i..end]).into_owned();
        if s.matches('.').count() == 2 && s.len() > 40 && !out.contains(&s) {
            out.push(s);
        }
        i = end;
    }
    out
}

async fn storage_step() -> Outcome {
    let findings = super::inspector::run_audit(None);
    let leaks: Vec<_> = findings.iter().filter(|f| f.credential).collect();
    let dbs = super::inspector::indexed_db_names()
        .await
        .unwrap_or_default();
    match leaks.first() {
        Some(f) => (true, format!("Found a credential: {} {} ({}).", f.place.label(), f.key, f.reason)),
        None => (
            false,
            format!(
                "It read every entry ({}) and {} IndexedDB databases: no token anywhere a script can read.",
                if findings.is_empty() {
                    "web storage is empty right now: not even the theme choice is stored".to_owned()
                } else {
                    findings.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", ")
                },
                dbs.len()
            ),
        ),
    }
}

fn cookie_step() -> Outcome {
    let cookies = document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default();
    if cookies.contains("cloakroom_refresh") {
        return (true, "document.cookie shows the refresh cookie!".into());
    }
    (
        false,
        format!(
            "document.cookie is \"{}\": the refresh cookie is HttpOnly, so the browser never shows it to script. It still sends it with requests to this site (step 5).",
            cookies
        ),
    )
}

/// This program's whole memory, scanned for tokens as a script would scan
/// `wasmBindings.initSync().memory.buffer`. Read in chunks into one buffer allocated first: a
/// copy of the whole memory would grow it, and growing detaches the view being copied from.
fn scan_memory() -> (usize, Vec<String>) {
    const CHUNK: usize = 64 * 1024;
    const OVERLAP: usize = 4 * 1024; // longer than any token: none is cut in two
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let mut buf = vec![0u8; CHUNK];
    let mut tokens: Vec<String> = Vec::new();
    let mut at = 0;
    loop {
        let view = js_sys::Uint8Array::new(&memory.buffer());
        let total = view.length() as usize;
        if at >= total {
            return (total, tokens);
        }
        let end = (at + CHUNK).min(total);
        let part = &mut buf[..end - at];
        view.subarray(at as u32, end as u32).copy_to(part);
        for t in find_tokens(part) {
            // One that runs to the chunk's end may be cut: the next chunk has it whole.
            let cut = end < total && part.ends_with(t.as_bytes());
            if !cut && !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        if end == total {
            return (total, tokens);
        }
        at = end - OVERLAP;
    }
}

/// The access token among the JWT-shaped strings found, as an attacker would pick it: bound to a
/// key (`cnf`), the newest (`iat`), and cut to its signature's length (EdDSA and ES256 both sign
/// 64 bytes: 86 characters). Memory holds the token in a heap block whose slack can still hold
/// the base64 of older strings, so a scan runs on past its end; it also holds stale copies
/// partly overwritten by later allocations, whose signature is cut short: replaying one of
/// those would prove nothing.
pub fn pick_access_token(tokens: &[String]) -> Option<String> {
    const SIG: usize = 86;
    tokens
        .iter()
        .filter_map(|t| {
            let (signed, sig) = t.rsplit_once('.')?;
            let t = format!("{signed}.{}", sig.get(..SIG)?);
            let claims = crate::auth::jwt::decode(&t)?.claims;
            claims.cnf.is_some().then_some((claims.iat, t))
        })
        .max_by_key(|(iat, _)| *iat)
        .map(|(_, t)| t)
}

fn memory_step(found: RwSignal<Option<String>>) -> Outcome {
    let (size, tokens) = scan_memory();
    let access = pick_access_token(&tokens);
    found.set(access.clone());
    match access {
        Some(t) => (
            true,
            format!(
                "Found the access token in {} KiB of memory: …{}  Keeping it \"only in memory\" does not hide it from a script running in the page. What makes it worthless elsewhere is step 4.",
                size / 1024,
                // Its end, the signature: the header is alike in every token, this is this one's.
                &t[t.len().saturating_sub(24)..]
            ),
        ),
        None => (false, "No token in memory (log in first, then run it again).".into()),
    }
}

/// Sends `GET /api/me` with the token as `scheme`, and no proof: what a thief holding only the
/// token can do from anywhere else.
async fn status_without_key(scheme: &str, token: &str) -> u16 {
    match gloo_net::http::Request::get("/api/me")
        .header("Authorization", &format!("{scheme} {token}"))
        .send()
        .await
    {
        Ok(r) => r.status(),
        Err(_) => 0,
    }
}

async fn replay_step(found: Option<String>) -> Outcome {
    let Some(token) = found else {
        return (
            false,
            "Run step 3 first: there is no stolen token to replay.".into(),
        );
    };
    let proofless = status_without_key("DPoP", &token).await;
    let bearer = status_without_key("Bearer", &token).await;
    let sealed = match dpop::key().await {
        Ok(k) if !k.extractable() => format!(
            "this tab's {} key is a CryptoKey the browser will not export",
            k.alg
        ),
        Ok(_) => "this tab's key is exportable (it should not be)".into(),
        Err(e) => format!("this browser made no key ({e}): the token is a plain Bearer token"),
    };
    let ok = proofless != 401 || bearer != 401;
    (
        ok,
        format!(
            "As DPoP without a proof: {proofless}. As Bearer: {bearer}. The token is bound to this tab's key (cnf.jkt), every use needs a fresh proof signed by it, and {sealed}."
        ),
    )
}

async fn own_token_step() -> Outcome {
    let attempt = async {
        let key = dpop::make_key().await?;
        let origin = window().location().origin().map_err(|_| "no origin")?;
        let proof =
            dpop::proof_with(&key, "POST", &format!("{origin}/api/auth/refresh"), None).await?;
        let mut req = gloo_net::http::Request::post("/api/auth/refresh").header("DPoP", &proof);
        for (k, v) in api::CSRF {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(api::fetch_error)?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        Ok::<_, String>((status, text))
    };
    match attempt.await {
        Ok((200, body)) => {
            let jkt = api::parse::<api_types::TokenResponse>(&body)
                .ok()
                .and_then(|t| crate::auth::jwt::decode(&t.access_token))
                .and_then(|d| d.claims.cnf.map(|c| c.jkt))
                .unwrap_or_default();
            (
                true,
                format!(
                    "It worked: a fresh access token bound to a key the script made itself (cnf.jkt {}…). The browser attaches the refresh cookie to any request to this site, whoever starts it: HttpOnly hides the cookie's value, not its use. So the first barrier is CSP (script-src 'self', no inline script, no eval), which keeps such a script out. The binding limits what it can take away to this token's lifetime (this lab's key is non-extractable; an attacker's need not be): a new token needs the cookie, which only this browser sends.",
                    &jkt[..12.min(jkt.len())]
                ),
            )
        }
        Ok((status, _)) => (
            false,
            format!("The server answered {status} (log in first)."),
        ),
        Err(e) => (false, format!("Could not try: {e}.")),
    }
}

#[component]
pub fn AttackLab() -> impl IntoView {
    let results = RwSignal::new([const { None::<Outcome> }; 5]);
    let found = RwSignal::new(None::<String>);
    let run = move |i: usize| {
        leptos::task::spawn_local(async move {
            let outcome = match i {
                0 => storage_step().await,
                1 => cookie_step(),
                2 => memory_step(found),
                3 => replay_step(found.get_untracked()).await,
                _ => own_token_step().await,
            };
            results.update(|r| r[i] = Some(outcome));
        });
    };
    view! {
        <section class="card" data-testid="attack-lab">
            <h2>"Attack lab: what an injected script can take"</h2>
            <p>"Each button does, from inside this page, exactly what a script an attacker managed to inject would do. It is this app's own code (no eval), so it runs under the page's strict Content-Security-Policy; a real injected script would first have to get past that policy."</p>
            <ol class="lab">
                {STEPS.iter().enumerate().map(|(i, (what, anchor))| view! {
                    <li data-testid="lab-step">
                        <button class="ghost" on:click=move |_| run(i)>{format!("Run step {}", i + 1)}</button>
                        " " {*what} " "
                        <a href=format!("/docs/security#{anchor}") target="_blank" rel="noopener">"why?"</a>
                        <p data-testid="lab-result" aria-live="polite" class=move || match results.with(|r| r[i].as_ref().map(|o| o.0)) {
                            Some(true) => "verdict bad",
                            Some(false) => "verdict ok",
                            None => "",
                        }>
                            {move || results.with(|r| r[i].as_ref().map(|o| {
                                format!("{} {}", if o.0 { "Attacker got something." } else { "Attacker got nothing." }, o.1)
                            }))}
                        </p>
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{find_tokens, pick_access_token};

    #[test]
    fn finds_each_jwt_once_among_other_bytes() {
        let t = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSIsImV4cCI6MjAwMH0.c2lnbmF0dXJlc2ln";
        let mut mem = b"\0\0xx".to_vec();
        mem.extend_from_slice(t.as_bytes());
        mem.extend_from_slice(b"\0eyJnot-a-token\0");
        mem.extend_from_slice(t.as_bytes());
        mem.push(b'"');
        assert_eq!(find_tokens(&mem), vec![t.to_owned()]);
        assert!(find_tokens(b"eyJ").is_empty());
    }

    #[test]
    fn picks_the_newest_bound_token_cut_to_its_signature() {
        // {"alg":"EdDSA"} . claims . a signature of `len` bytes
        let token = |claims: &str, len: usize| {
            let b64 = crate::api::dpop::b64url;
            format!(
                "{}.{}.{}",
                b64(br#"{"alg":"EdDSA"}"#),
                b64(claims.as_bytes()),
                b64(&vec![7u8; len])
            )
        };
        let old = token(r#"{"iat":1,"cnf":{"jkt":"k"}}"#, 64);
        let new = token(r#"{"iat":2,"cnf":{"jkt":"k"}}"#, 64);
        let cut = token(r#"{"iat":3,"cnf":{"jkt":"k"}}"#, 40);
        let proof = token(r#"{"iat":4,"htm":"GET"}"#, 64);
        let all = vec![old.clone(), cut, format!("{new}Zm9v"), proof];
        assert_eq!(pick_access_token(&all), Some(new));
        assert_eq!(pick_access_token(&all[..2]), Some(old));
        assert_eq!(pick_access_token(&all[3..]), None);
    }
}
