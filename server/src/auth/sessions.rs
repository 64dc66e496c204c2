//! Ending sessions. A revocation has two halves: the store (refresh tokens die) and the
//! in-memory revoked set (access tokens die at once instead of at their `exp`). Every server-side
//! caller goes through here, so none can do only the first half. The CLI (`ops`), which has no
//! running server's memory to update, writes the store alone; the revocation log brings it to
//! every running server within one sync.

use crate::{error::ApiResult, state::AppState, store};

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
