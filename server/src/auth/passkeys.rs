//! Passkeys (WebAuthn Level 3) through webauthn-rs: registering one to a signed-in account, and
//! signing in with one, with no username (a discoverable credential names its account).
//!
//! Security choices, each with its reason:
//! - The relying party is the public origin (`CLOAKROOM_PUBLIC_ORIGIN`): its host is the RP ID,
//!   and an assertion made for any other origin or RP ID is refused by webauthn-rs. So a
//!   phishing page elsewhere gets nothing it can use here. Browsers allow no IP address as an RP
//!   ID: on an origin like `http://127.0.0.1:3000` passkeys are off (404 with the reason).
//! - User verification is required (webauthn-rs's passkey policy): a passkey is a full login, so
//!   it must prove the person, not only the device.
//! - Ceremony state (the challenge among it) is kept in the database, not in memory: a ceremony
//!   begun on one instance finishes on another. It expires after [`CEREMONY_SECS`], and the
//!   request that finishes it deletes it (`store::passkeys::take_ceremony`), so a challenge is
//!   answered once: a replayed answer finds nothing.
//! - The ceremony's id travels in an HttpOnly SameSite=Strict cookie (`cookies`), not in the
//!   request body: an answer finished from another browser (one that did not begin the
//!   ceremony) names no ceremony and is refused.
//! - A registration is for the account that began it: the ceremony row names it, and the finish
//!   must come from the same account.
//! - A credential id belongs to one account (UNIQUE in the store). A login looks the credential
//!   up among the passkeys of the account its user handle names, so a credential of account A
//!   presented with B's handle matches none of B's and is refused.
//! - A signature counter that went backwards (a cloned authenticator) is refused and recorded.

use api_types::ProblemType;
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
    store::{self, passkeys::PasskeyRow, users::UserRow},
};

/// How long a ceremony may take, from its options to its answer (WebAuthn's own timeout for the
/// browser is the same).
pub const CEREMONY_SECS: i64 = 300;

/// Most passkeys one account may hold: enough for every device a person has, few enough that
/// each registration's options (which list them all, to exclude them) stay small.
pub const PASSKEYS_MAX: usize = 20;

/// Most ceremonies open at once, across all browsers: past it new ones wait (503) until some
/// finish or expire, so a spread of addresses cannot fill the table.
pub const CEREMONIES_MAX: i64 = 20_000;

/// Longest credential id accepted (WebAuthn allows 1,023 bytes).
const CRED_ID_MAX: usize = 1023;

/// Whether a credential id of `len` bytes is one WebAuthn allows (at most [`CRED_ID_MAX`]).
fn cred_id_fits(len: usize) -> bool {
    len <= CRED_ID_MAX
}

const REGISTER: &str = "register";
const LOGIN: &str = "login";

/// The relying party for `public_origin`, or `None` where browsers allow no passkeys (an IP
/// address as host).
pub fn relying_party(public_origin: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_origin).ok()?;
    let rp_id = origin.domain()?.to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Cloakroom")
        .timeout(std::time::Duration::from_secs(CEREMONY_SECS as u64))
        .build()
        .ok()
}

fn rp(state: &AppState) -> ApiResult<&Webauthn> {
    state.webauthn.as_deref().ok_or_else(|| {
        ApiError::NotFound(
            "passkeys need the server's public origin to have a domain name (localhost, or a name over https): browsers allow none on an IP address".into(),
        )
    })
}

fn refused(detail: &str) -> ApiError {
    ApiError::unauthorized(ProblemType::PasskeyRefused, detail)
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult<String> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.into()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> ApiResult<T> {
    serde_json::from_str(s).map_err(|e| ApiError::Internal(e.into()))
}

/// The WebAuthn user handle of an account: its id, which is a UUID (`store::users::create`).
fn user_handle(user: &UserRow) -> ApiResult<Uuid> {
    Uuid::parse_str(&user.id).map_err(|e| ApiError::Internal(e.into()))
}

/// Begins adding a passkey to `user`: the options for `navigator.credentials.create()` and the
/// ceremony's id. The user's passkeys are excluded, so one authenticator is not added twice.
pub async fn begin_registration(
    state: &AppState,
    user: &UserRow,
    existing: &[PasskeyRow],
) -> ApiResult<(Value, String)> {
    if existing.len() >= PASSKEYS_MAX {
        return Err(ApiError::Conflict(format!(
            "an account holds at most {PASSKEYS_MAX} passkeys: delete one first"
        )));
    }
    let exclude = existing
        .iter()
        .map(|p| p.cred_id.clone().into())
        .collect::<Vec<_>>();
    let (options, registration) = rp(state)?
        .start_passkey_registration(
            user_handle(user)?,
            &user.username,
            &user.username,
            Some(exclude),
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut options = serde_json::to_value(options).map_err(|e| ApiError::Internal(e.into()))?;
    // A discoverable credential, so that signing in needs no username (webauthn-rs's passkey
    // registration discourages one; its discoverable sign-in needs one).
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = "required".into();
    selection["requireResidentKey"] = true.into();
    let now = state.clock.now();
    let id = store::passkeys::begin_ceremony(
        &state.db,
        REGISTER,
        Some(&user.id),
        &to_json(&registration)?,
        now + CEREMONY_SECS,
    )
    .await?;
    Ok((options, id))
}

/// Finishes adding a passkey: the browser's answer checked against the ceremony this browser
/// began for this account; the passkey, stored under `name`.
pub async fn finish_registration(
    state: &AppState,
    user_id: &str,
    ceremony: Option<&str>,
    credential: Value,
    name: &str,
) -> ApiResult<PasskeyRow> {
    // 403, not 422: the request is well formed; it is the ceremony that refuses it.
    let invalid = |why: &str| ApiError::Forbidden(format!("the passkey was not added: {why}"));
    let now = state.clock.now();
    let Some(ceremony) = ceremony else {
        return Err(invalid(
            "this browser began no passkey registration (or it expired)",
        ));
    };
    let Some(saved) =
        store::passkeys::take_ceremony(&state.db, ceremony, REGISTER, Some(user_id), now).await?
    else {
        return Err(invalid("no such registration in progress: it expired, was used, or began in another browser or account"));
    };
    let registration: PasskeyRegistration = from_json(&saved)?;
    let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
        .map_err(|e| invalid(&format!("the answer is not a WebAuthn registration ({e})")))?;
    let passkey: Passkey = rp(state)?
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| invalid(&format!("the authenticator's answer was refused ({e})")))?;
    if !cred_id_fits(passkey.cred_id().len()) {
        return Err(invalid("its credential id is longer than WebAuthn allows"));
    }
    let row = store::passkeys::insert(
        &state.db,
        user_id,
        passkey.cred_id().as_ref(),
        name,
        &to_json(&passkey)?,
        now,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict("this passkey is registered already".into()))?;
    store::events::record(
        &state.db,
        now,
        "passkey_added",
        Some(user_id),
        None,
        None,
        &format!("passkey_added: {name}"),
    )
    .await?;
    Ok(row)
}

/// Begins a sign-in with a passkey: the options for `navigator.credentials.get()` (no
/// credentials listed: the browser offers the passkeys it has for this site) and the ceremony's
/// id.
pub async fn begin_login(state: &AppState) -> ApiResult<(Value, String)> {
    let webauthn = rp(state)?;
    let now = state.clock.now();
    if store::passkeys::live_ceremonies(&state.db, now).await? >= CEREMONIES_MAX {
        return Err(ApiError::Overloaded(
            "too many passkey sign-ins are open right now; retry in a moment".into(),
        ));
    }
    let (options, auth) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let id = store::passkeys::begin_ceremony(
        &state.db,
        LOGIN,
        None,
        &to_json(&auth)?,
        now + CEREMONY_SECS,
    )
    .await?;
    Ok((
        serde_json::to_value(options).map_err(|e| ApiError::Internal(e.into()))?,
        id,
    ))
}

/// Finishes a sign-in: the account whose passkey answered this browser's challenge. Every
/// refusal is the same 401 `passkey-refused` to the client; the log says which it was.
pub async fn finish_login(
    state: &AppState,
    ceremony: Option<&str>,
    credential: Value,
    ip: &str,
) -> ApiResult<UserRow> {
    let now = state.clock.now();
    let webauthn = rp(state)?;
    let Some(ceremony) = ceremony else {
        return Err(refused(
            "this browser began no passkey sign-in (or it expired): start again",
        ));
    };
    let Some(saved) = store::passkeys::take_ceremony(&state.db, ceremony, LOGIN, None, now).await?
    else {
        return Err(refused(
            "no such sign-in in progress: it expired, was used already, or began in another browser; start again",
        ));
    };
    let auth: DiscoverableAuthentication = from_json(&saved)?;
    let credential: PublicKeyCredential = serde_json::from_value(credential)
        .map_err(|_| refused("the answer is not a WebAuthn assertion"))?;
    let (handle, cred_id) = webauthn
        .identify_discoverable_authentication(&credential)
        .map_err(|_| refused("the passkey named no account"))?;
    // One answer for "no such account" and "not that account's passkey": the refusal tells
    // nobody which user handles exist.
    let unknown = || refused("this passkey is not registered here (deleted?)");
    let user = store::users::find_by_id(&state.db, &handle.to_string())
        .await?
        .ok_or_else(unknown)?;
    let rows = store::passkeys::list(&state.db, &user.id).await?;
    let Some(row) = rows.iter().find(|r| r.cred_id == cred_id) else {
        return Err(unknown());
    };
    let mut passkey: Passkey = from_json(&row.passkey)?;
    let keys = [DiscoverableKey::from(&passkey)];
    let result = match webauthn.finish_discoverable_authentication(&credential, auth, &keys) {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            // Two authenticators answer for one credential: a clone. Which one is the owner's
            // cannot be told, so the passkey goes (both stop working; the owner signs in with
            // the password and adds a new one). Keeping it would leave it to whichever copy
            // sends the higher counter, the clone's as likely as the owner's.
            tracing::warn!(user = %user.id, passkey = %row.id, "passkey signature counter went backwards: removed");
            store::passkeys::delete(&state.db, &user.id, &row.id).await?;
            store::events::record(
                &state.db,
                now,
                "passkey_counter_regressed",
                Some(&user.id),
                None,
                Some(ip),
                &format!(
                    "passkey_counter_regressed: {} (a cloned authenticator?): removed",
                    row.name
                ),
            )
            .await?;
            return Err(refused(
                "this passkey's signature counter went backwards: it may have been cloned, so it was removed; sign in with the password and add a new one",
            ));
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey assertion refused");
            return Err(refused("the passkey's answer was refused"));
        }
    };
    passkey.update_credential(&result);
    if !store::passkeys::used(&state.db, &row.id, &row.passkey, &to_json(&passkey)?, now).await? {
        return Err(refused(
            "this passkey changed while the sign-in was checked (deleted, or used by another sign-in at the same moment): start again",
        ));
    }
    store::events::record(
        &state.db,
        now,
        "passkey_used",
        Some(&user.id),
        None,
        Some(ip),
        &format!("passkey_used: {}", row.name),
    )
    .await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    /// WebAuthn Level 3 §7.1 step 19: a credential id longer than 1023 bytes is refused, one of
    /// 1023 is not (the software authenticator of the API tests makes short ones only).
    #[test]
    fn credential_ids_up_to_1023_bytes_fit() {
        assert!(super::cred_id_fits(16));
        assert!(super::cred_id_fits(1023));
        assert!(!super::cred_id_fits(1024));
    }
}
