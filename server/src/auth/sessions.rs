//! Ending sessions. A revocation has two halves: the store (refresh tokens die) and the
//! in-memory revoked set (access tokens die at once instead of at their `exp`). Every server-side
//! caller goes through here, so none can do only the first half. The CLI (`ops`), which has no
//! running server's memory to update, writes the store alone; the revocation log brings it to
//! every running server within one sync.

use api_types::TokenResponse;

use crate::{
    auth::{dpop, AuthUser},
    error::{ApiError, ApiResult},
    state::AppState,
    store::{self, sessions::SessionGrant},
};

/// The access token answer for a session grant (login, refresh, either flow), bound to the
/// DPoP key with thumbprint `jkt` when the request carried a valid proof.
pub fn tokens_for(
    state: &AppState,
    g: &SessionGrant,
    now: i64,
    jkt: Option<&str>,
) -> ApiResult<TokenResponse> {
    let ttl = state.access_ttl();
    let access_token = state.keys.issue_bound(
        &g.user_id,
        &g.username,
        &g.session_id,
        &g.roles,
        now,
        ttl,
        jkt,
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: if jkt.is_some() { "DPoP" } else { "Bearer" }.into(),
        expires_in: ttl as u64,
        rotation: None,
    })
}

/// Verifies an access token and checks its session is not revoked.
pub fn authenticate(state: &AppState, token: &str) -> ApiResult<AuthUser> {
    let claims = state
        .keys
        .verify(token, state.clock.now())
        .map_err(ApiError::invalid_token)?;
    if state.revoked.contains(&claims.sid) {
        return Err(ApiError::invalid_token("session has been revoked"));
    }
    Ok(AuthUser {
        user_id: claims.sub,
        username: claims.preferred_username,
        session_id: claims.sid,
        roles: claims.roles,
        jkt: claims.cnf.map(|c| c.jkt),
    })
}

/// Checks a DPoP proof for this request (`path` on the public origin), without recording its
/// `jti` yet ([`record_proof`], once the request has passed its other gates).
/// `access_token`: the token presented with it, on resource requests.
pub fn check_proof(
    state: &AppState,
    proof: &str,
    method: &str,
    path: &str,
    access_token: Option<&str>,
) -> ApiResult<dpop::Checked> {
    let url = format!("{}{path}", state.settings.public_origin);
    let expect = dpop::Expect {
        method,
        url: &url,
        access_token,
        now: state.clock.now(),
    };
    dpop::verify(proof, &expect).map_err(proof_error)
}

/// Records a checked proof's `jti`: refused if it was used before.
pub async fn record_proof(state: &AppState, proof: &dpop::Checked) -> ApiResult<()> {
    let now = state.clock.now();
    state.dpop_replay.record(proof, now).map_err(proof_error)?;
    // Then every other instance's (PostgreSQL): the proof may have been used on one of them.
    let until = proof.iat + dpop::IAT_PAST_SECS;
    if !store::dpop::record(&state.db, &proof.jkt, &proof.jti, until, now).await? {
        return Err(proof_error(dpop::REPLAYED));
    }
    Ok(())
}

fn proof_error(e: dpop::ProofError) -> ApiError {
    match e {
        dpop::ProofError::Busy => ApiError::Overloaded(e.to_string()),
        dpop::ProofError::Invalid(why) => {
            ApiError::unauthorized(api_types::ProblemType::InvalidDpopProof, why)
        }
    }
}

/// Ends one live session of `user_id`; `false` if it is not one of theirs.
pub async fn end(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    reason: &str,
) -> ApiResult<bool> {
    let now = state.clock.now();
    let ended = store::sessions::revoke(&state.db, user_id, session_id, now, reason).await?;
    if ended {
        state.revoked.insert(session_id, now);
    }
    Ok(ended)
}

/// Ends every session of `user_id`; returns how many.
pub async fn end_all(state: &AppState, user_id: &str, reason: &str) -> ApiResult<usize> {
    let now = state.clock.now();
    let ids = store::sessions::revoke_all(&state.db, user_id, now, reason).await?;
    for sid in &ids {
        state.revoked.insert(sid, now);
    }
    Ok(ids.len())
}

/// The second half alone, for a session the store revoked as part of another write (refresh
/// rotation detecting reuse revokes in the same statement that found it).
pub fn revoked_by_store(state: &AppState, session_id: &str) {
    state.revoked.insert(session_id, state.clock.now());
}
