//! Sign-in through the team's OpenID provider (`auth::oidc`). The login page's button is a
//! top-level navigation to `start`, which sends the browser to the provider; the provider sends
//! it back to `callback`, which ends on the page it was going to, signed in, or on the login page
//! with `?sso=` saying why not: never a bare error page in between. These routes exist only when
//! a provider is configured.

use api_types::{safe_next, OidcProvider};
use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::oidc::{self, Refusal},
    auth::AuthUser,
    error::ApiResult,
    extract::{ClientMeta, CsrfChecked},
    state::AppState,
    store::{self, sessions::OidcOrigin},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(provider))
        .routes(routes!(start))
        .routes(routes!(link))
        .routes(routes!(callback))
        .routes(routes!(backchannel_logout))
        // A logout token is a few KB at most.
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
}

/// `GET /api/auth/oidc`'s query, as documented (the handler reads it itself, leniently).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Provider {
    /// The code of `/login?sso=`, to be worded in the answer's `refusal`.
    pub sso: Option<String>,
}

#[utoipa::path(get, path = "/api/auth/oidc", tag = "auth", params(Provider),
    responses((status = 200, description = "The OpenID provider the login page offers (this route exists only when one is configured)", body = OidcProvider)))]
async fn provider(State(state): State<AppState>, uri: Uri) -> ApiResult<Json<OidcProvider>> {
    let p = state.oidc.as_ref().ok_or_else(not_configured)?;
    let name = &p.settings.name;
    // Read leniently (the first `sso`, anything else ignored): the login page passes its own
    // query on, and a crafted one (`sso` twice) must not cost the page its button.
    let sso = openidconnect::url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "sso")
        .and_then(|(_, code)| Refusal::from_code(&code));
    // RP-Initiated Logout with our client_id only: the provider asks the person to confirm (no
    // ID token is kept here to hint with, so no site can sign them out unasked through it).
    // The endpoint comes from the provider's discovery document and becomes a link on our
    // page: https only (http on loopback, as for the issuer), never `javascript:` or a
    // plain-http page anyone on the path could swap.
    let sign_out = p.end_session_endpoint().and_then(|e| {
        let mut url = openidconnect::url::Url::parse(&e).ok()?;
        if !crate::config::https_or_loopback(&url) {
            tracing::warn!(endpoint = %e, "the provider's end_session_endpoint is not https: not offered");
            return None;
        }
        url.query_pairs_mut()
            .append_pair("client_id", p.settings.client_id.as_str());
        Some(url.to_string())
    });
    Ok(Json(OidcProvider {
        name: name.clone(),
        sign_out,
        // An unknown code is no sentence: the page says nothing rather than something untrue.
        refusal: sso.map(|r| r.sentence(name)),
    }))
}

fn not_configured() -> crate::error::ApiError {
    crate::error::ApiError::NotFound("no OpenID provider is configured".into())
}

/// `GET /api/auth/oidc/start`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Start {
    /// Where to go once signed in: a path on this site (anything else: the notes page).
    pub next: Option<String>,
    /// `1`: keep the session when the browser closes ("remember me").
    pub remember: Option<String>,
    /// The id of the signed-in account to delete (the account page's "Delete my account with
    /// {name}"): the provider is asked to authenticate the person again, and its answer deletes
    /// that account, if it is the provider user's, instead of starting a session. Only this
    /// site's own pages can begin it (a link from elsewhere gets the confirm page, which drops
    /// it).
    pub delete: Option<String>,
}

#[utoipa::path(get, path = "/api/auth/oidc/start", tag = "auth", params(Start),
    responses((status = 303, description = "To the provider's authorization endpoint, with this browser's sign-in cookie (`SameSite=Lax`, ten minutes); or to `/login?sso=…` when no sign-in could begin",
        headers(("location" = String, description = "The provider's authorization URL, or the login page"),
            ("set-cookie" = String, description = "The sign-in cookie")))))]
#[tracing::instrument(skip_all)]
async fn start(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let q = Query::<Start>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let next = as_location(&safe_next(q.next));
    let remember = q.remember.as_deref() == Some("1");
    // A sign-in begins only from a navigation this site started (the login page's button) or
    // the person's own (a bookmark, the address bar): another site cannot make this browser
    // sign in, which would silently swap its session for one of the person's provider account.
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if !matches!(site, None | Some("same-origin") | Some("none")) {
        // A link from another site (the organisation's portal, or an attacker's page): the
        // person confirms with a click on this site's own page, which begins it as this site.
        tracing::info!(
            site,
            "OpenID sign-in asked for by another site: confirm page"
        );
        return continue_page(&state, &next);
    }
    // One unit of the per-address budget of sign-ups and logins: each begun sign-in is a row.
    if state.auth_ip_limiter.check(meta.ip).is_err() {
        return to_login(Some(Refusal::Busy), &next);
    }
    let purpose = q
        .delete
        .map_or(oidc::Purpose::SignIn, oidc::Purpose::Delete);
    match oidc::begin(&state, &next, remember, purpose).await {
        Ok((url, id)) => {
            let mut res = redirect(&url);
            res.headers_mut().append(
                header::SET_COOKIE,
                state.cookies.set_oidc(&id, oidc::LOGIN_SECS),
            );
            res
        }
        Err(refusal) => to_login(Some(refusal), &next),
    }
}

#[utoipa::path(get, path = "/api/auth/oidc/callback", tag = "auth",
    params(("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("state" = Option<String>, Query, description = "The sign-in's state, as sent"),
        ("iss" = Option<String>, Query, description = "The provider (RFC 9207)"),
        ("error" = Option<String>, Query, description = "The provider's error code, e.g. `access_denied`")),
    responses((status = 303, description = "Signed in: to the page the sign-in was for, with the refresh and device cookies (the access token comes from the app's first refresh, bound to its DPoP key). Refused: to `/login?sso=expired|denied|provider|refused|unavailable|busy`. Either way the sign-in cookie is removed",
        headers(("location" = String, description = "Where the browser goes next"),
            ("set-cookie" = String, description = "The refresh and device cookies; the sign-in cookie removed")))))]
#[tracing::instrument(skip_all)]
async fn callback(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let answer = Query::<oidc::Callback>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let login = state.cookies.read_oidc(&headers);
    let mut res = match signed_in(&state, &meta, login.as_deref(), &answer).await {
        Ok(res) => res,
        Err(oidc::Refused {
            why,
            next,
            checked,
            linking,
        }) => {
            if why == Refusal::Refused && checked {
                // A sign-in under way, with this browser's state, ended refused: an attack or a
                // misconfiguration, worth an operator's look. (A wrong state is only logged:
                // anyone can send one, and each would be a row.)
                let ip = meta.ip.to_string();
                if let Err(e) = store::events::record(
                    &state.db,
                    state.clock.now(),
                    "oidc_refused",
                    None,
                    None,
                    Some(&ip),
                    "oidc_refused: the provider's answer failed a check",
                )
                .await
                {
                    tracing::error!(error = %e, "recording an event failed");
                }
            }
            if linking {
                redirect(&format!("/account?sso={}", why.code()))
            } else {
                to_login(Some(why), next.as_deref().unwrap_or("/notes"))
            }
        }
    };
    res.headers_mut()
        .append(header::SET_COOKIE, state.cookies.clear_oidc());
    res
}

#[utoipa::path(post, path = "/api/auth/oidc/link", tag = "auth", security(("bearer" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 200, description = "A sign-in to link this account to the provider's user is under way: the body is the provider's URL (a JSON string), to go to. The provider is asked to authenticate the person again (`max_age=0`, `prompt=login`); the way back links the account if the provider's user has none here yet, and lands on `/account?sso=linked` (or `taken`, `not-fresh`, …)", body = String,
            headers(("set-cookie" = String, description = "The sign-in cookie"))),
        (status = 409, description = "This account is linked to the provider already", body = api_types::Problem),
        (status = 429, description = "This address began too many sign-ins", body = api_types::Problem),
        (status = 503, description = "The provider cannot be reached", body = api_types::Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn link(
    // Set from a page of this site only: an authenticated request (the access token lives in
    // the app's memory) with the CSRF header of cookie routes, since it sets a cookie.
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
    user: AuthUser,
) -> ApiResult<Response> {
    use crate::error::ApiError;
    if store::oidc::has_identity(&state.db, &user.user_id).await? {
        return Err(ApiError::Conflict(
            "this account is linked to the provider already".into(),
        ));
    }
    if state.auth_ip_limiter.check(meta.ip).is_err() {
        return Err(ApiError::TooManyRequests {
            detail: "too many sign-ins began from this address: try again in a minute".into(),
            retry_after_secs: 60,
        });
    }
    let purpose = oidc::Purpose::Link(user.user_id.clone());
    let (url, id) = oidc::begin(&state, "/account", false, purpose)
        .await
        .map_err(|_| {
            ApiError::Overloaded("the provider cannot be reached: try again in a moment".into())
        })?;
    // A JSON string: the provider's authorization URL.
    let mut res = Json(url).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        state.cookies.set_oidc(&id, oidc::LOGIN_SECS),
    );
    Ok(res)
}

/// The provider confirmed linking account `id` to its user (the person signed in there again
/// just now): linked if that user has no account here yet; then back to the account page,
/// which says so (`?sso=linked`, or why not). The session this browser has goes on.
async fn link_confirmed(
    state: &AppState,
    meta: &ClientMeta,
    who: &oidc::Identity,
    id: &str,
) -> Result<Response, oidc::Refused> {
    let issuer = state.oidc.as_ref().map(|p| p.issuer()).unwrap_or_default();
    let now = state.clock.now();
    let said = match store::oidc::link(&state.db, issuer, &who.subject, id, now).await {
        Ok(true) => {
            let ip = meta.ip.to_string();
            if let Err(e) = store::events::record(
                &state.db,
                now,
                "oidc_linked",
                Some(id),
                None,
                Some(&ip),
                &format!("oidc_linked: {issuer}"),
            )
            .await
            {
                tracing::error!(error = %e, "recording an event failed");
            }
            tracing::info!("account linked to the OpenID provider");
            Refusal::Linked
        }
        Ok(false) => Refusal::Taken,
        Err(e) => {
            // (An account deleted meanwhile fails the foreign key: nothing to link.)
            tracing::warn!(error = %e, "linking an account to the provider failed");
            Refusal::Unavailable
        }
    };
    Ok(redirect(&format!("/account?sso={}", said.code())))
}

/// The provider confirmed deleting account `id` (the person signed in there again just now):
/// deleted if it is the account of the provider's user who did, never created; then the login
/// page says so, and this browser's cookies of it are gone.
async fn delete_confirmed(
    state: &AppState,
    meta: &ClientMeta,
    who: &oidc::Identity,
    id: &str,
) -> Result<Response, oidc::Refused> {
    let refused = |why| oidc::Refused {
        why,
        next: Some(who.next.clone()),
        checked: true,
        linking: false,
    };
    let issuer = state.oidc.as_ref().map(|p| p.issuer()).unwrap_or_default();
    let account = match store::oidc::find_user(&state.db, issuer, &who.subject).await {
        Ok(Some(account)) if account.id == id => account,
        Ok(_) => {
            // Another account than the one signed in on the page (or none): the person at the
            // provider is not the account's owner, or signed in there as someone else.
            tracing::warn!("a deletion confirmed by the provider's user of another account");
            return Err(refused(Refusal::Refused));
        }
        Err(e) => {
            tracing::error!(error = %e, "looking the provider's user up failed");
            return Err(refused(Refusal::Unavailable));
        }
    };
    if let Err(e) = super::account::delete_now(state, &account, None, &meta.ip.to_string()).await {
        // The last admin, or the database failing: nothing was deleted.
        tracing::warn!(error = ?e, "deleting an account the provider confirmed failed");
        return Err(refused(Refusal::Refused));
    }
    tracing::info!("account deleted (confirmed at the OpenID provider)");
    Ok(super::account::account_gone(
        state,
        to_login(Some(Refusal::Deleted), "/notes"),
    ))
}

/// The form the provider posts (OpenID Connect Back-Channel Logout 1.0 §2.5).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the schema only: the handler reads the form itself, to answer 400 its way
struct LogoutTokenForm {
    /// The provider's logout token, a JWT.
    logout_token: String,
}

#[utoipa::path(post, path = "/api/auth/oidc/backchannel-logout", tag = "auth",
    request_body(content = LogoutTokenForm, content_type = "application/x-www-form-urlencoded", description = "The provider's logout token (OpenID Connect Back-Channel Logout 1.0)"),
    responses((status = 200, description = "The sessions it names are ended, on every instance (none may have been live)"),
        (status = 400, description = "No logout token, or one that was refused (signature, issuer, audience, age, event, nonce, a replayed jti)", body = api_types::Problem)))]
#[tracing::instrument(skip_all)]
async fn backchannel_logout(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    // Called by the provider, server to server: no cookie, no CSRF header; the token's own
    // signature is its whole authority.
    let token = openidconnect::url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            crate::error::ApiError::BadRequest("no logout_token in the form body".into())
        })?;
    match oidc::backchannel_logout(&state, &token).await {
        Ok(ended) => {
            tracing::info!(
                ended,
                "the OpenID provider ended sessions (back-channel logout)"
            );
            Ok(StatusCode::OK)
        }
        Err(why) => {
            tracing::warn!(%why, "a back-channel logout token was refused");
            Err(crate::error::ApiError::BadRequest(format!(
                "logout token refused: {why}"
            )))
        }
    }
}

/// The provider's answer checked, the account found or made, the session begun: the redirect
/// that carries its cookies.
async fn signed_in(
    state: &AppState,
    meta: &ClientMeta,
    login: Option<&str>,
    answer: &oidc::Callback,
) -> Result<Response, oidc::Refused> {
    let who = oidc::finish(state, login, answer).await?;
    let failed = |e: crate::error::ApiError| {
        tracing::error!(error = ?e, "starting a session after an OpenID sign-in failed");
        oidc::Refused {
            why: Refusal::Unavailable,
            next: Some(who.next.clone()),
            checked: true,
            linking: matches!(who.purpose, oidc::Purpose::Link(_)),
        }
    };
    match &who.purpose {
        oidc::Purpose::SignIn => {}
        oidc::Purpose::Delete(id) => return delete_confirmed(state, meta, &who, id).await,
        oidc::Purpose::Link(id) => return link_confirmed(state, meta, &who, id).await,
    }
    let (user, created) = oidc::account_for(state, &who).await.map_err(failed)?;
    let issuer = state.oidc.as_ref().map(|p| p.issuer()).unwrap_or_default();
    let now = state.clock.now();
    let ip = meta.ip.to_string();
    if created {
        store::events::record(
            &state.db,
            now,
            "oidc_account_created",
            Some(&user.id),
            None,
            Some(&ip),
            &format!("oidc_account_created: {issuer}"),
        )
        .await
        .map_err(|e| failed(e.into()))?;
    }
    // Bound to DPoP: this session belongs to the app's browser client, which proves every
    // refresh, so an injected script cannot trade the cookie for an unbound bearer token.
    let origin = OidcOrigin {
        issuer,
        sid: who.sid.as_deref(),
    };
    let (grant, cookies) = super::auth::browser_session(
        state,
        meta,
        &user,
        who.remember,
        true,
        Some(origin),
        super::auth::Via::Oidc,
    )
    .await
    .map_err(failed)?;
    store::events::record(
        &state.db,
        now,
        "oidc_signed_in",
        Some(&user.id),
        Some(&grant.session_id),
        Some(&ip),
        &format!("oidc_signed_in: {issuer}"),
    )
    .await
    .map_err(|e| failed(e.into()))?;
    let mut res = redirect(&who.next);
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

/// A same-origin path as a `Location` can carry it: what is not ASCII percent-encoded (the url
/// crate's path, query and fragment rules), so a `next` such as `/notes/é` survives the trip.
fn as_location(path: &str) -> String {
    match openidconnect::url::Url::parse("http://x").and_then(|base| base.join(path)) {
        Ok(u) => u[openidconnect::url::Position::BeforePath..].to_owned(),
        Err(_) => "/notes".into(),
    }
}

/// 303 to `to`, never cached (it carries cookies of one browser's sign-in).
fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The page a link from another site lands on: one button, which begins the sign-in from this
/// site (a link of this origin, so its request says `Sec-Fetch-Site: same-origin`). Rendered
/// here, with the app's stylesheet and no script, under the site's CSP.
fn continue_page(state: &AppState, next: &str) -> Response {
    let name = state
        .oidc
        .as_ref()
        .map(|p| p.settings.name.clone())
        .unwrap_or_default();
    let css = state
        .stylesheet
        .as_deref()
        .map(|href| format!(r#"<link rel="stylesheet" href="{href}">"#))
        .unwrap_or_default();
    // A link, not a form: the site's CSP (`form-action 'self'`) would stop a form whose answer
    // redirects to the provider.
    let href = format!(
        "/api/auth/oidc/start?next={}",
        openidconnect::url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    let (mut name_html, mut href_html) = (String::new(), String::new());
    let _ = pulldown_cmark_escape::escape_html(&mut name_html, &name);
    let _ = pulldown_cmark_escape::escape_html(&mut href_html, &href);
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in with {name_html} · Cloakroom</title>
{css}
</head>
<body>
<main id="main" class="card narrow">
<h1>Sign in with {name_html}</h1>
<p>Another site sent you here to sign in to Cloakroom through {name_html}.</p>
<p><a class="button" href="{href_html}">Sign in with {name_html}</a></p>
<p><a href="/login">Log in another way</a></p>
</main>
</body>
</html>
"#
    );
    let mut res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// To the login page, saying why (`?sso=`), still going to `next` afterwards.
fn to_login(refusal: Option<Refusal>, next: &str) -> Response {
    let mut url = String::from("/login?");
    if let Some(r) = refusal {
        url.push_str("sso=");
        url.push_str(r.code());
        url.push('&');
    }
    url.push_str("next=");
    // (Form encoding: the login page reads `+` as a space, as browsers do.)
    url.extend(openidconnect::url::form_urlencoded::byte_serialize(
        next.as_bytes(),
    ));
    redirect(&url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_next_that_is_not_ascii_is_encoded_for_the_location() {
        assert_eq!(
            super::as_location("/notes/é?q=ü#x"),
            "/notes/%C3%A9?q=%C3%BC#x"
        );
        assert_eq!(super::as_location("/sessions"), "/sessions");
    }

    #[test]
    fn next_survives_the_round_trip_through_the_login_page() {
        let res = super::to_login(Some(super::Refusal::Denied), "/notes?q=a b&x=1#top");
        let loc = res.headers()["location"].to_str().unwrap();
        assert_eq!(
            loc,
            "/login?sso=denied&next=%2Fnotes%3Fq%3Da+b%26x%3D1%23top"
        );
    }
}
