//! What runs beside the requests: following what other processes change (key rotations and
//! revocations from the CLI or another instance: polled on SQLite, `LISTEN`ed for on PostgreSQL,
//! with a probe of the listening connection), and pruning what has ended.

use std::time::Duration;

use crate::{state::AppState, store};

/// Periodic work: pick up what other processes (the CLI) changed, prune in-memory sets, purge
/// ended sessions.
pub fn spawn_housekeeping(state: AppState) {
    // Key rotations and revocations made elsewhere: by `cloakroom keys rotate|revoke` or
    // `cloakroom user revoke-sessions` while this server runs, or by another instance. SQLite:
    // every few seconds. PostgreSQL: at once, woken by the database (`LISTEN`), with a slower
    // re-sync as the safety net for anything a dropped connection missed.
    let sync = state.clone();
    let every = match state.db.postgres() {
        Some(pool) => {
            tokio::spawn(follow_notifications(state.clone(), pool.clone()));
            PG_RESYNC_SECS
        }
        None => SYNC_SECS,
    };
    let every = state.settings.resync.unwrap_or(Duration::from_secs(every));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            sync_once(&sync, sync.clock.now()).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let now = state.clock.now();
            state.revoked.prune(now);
            state.auth_ip_limiter.prune();
            state.report_limiter.prune();
            state.refresh_limiter.prune();
            if n.is_multiple_of(60) {
                // Rotated tokens are kept until their session ends (that is how reuse is
                // detected); a day after the end they serve no purpose.
                match store::sessions::purge_ended(&state.db, now - 86_400).await {
                    Ok(k) if k > 0 => tracing::info!(sessions = k, "purged ended sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging ended sessions failed"),
                }
                if let Err(e) = store::sessions::purge_revocation_log(&state.db, now - 86_400).await
                {
                    tracing::warn!(error = %e, "purging the revocation log failed");
                }
            }
            // Passkey ceremonies begun and never finished.
            if let Err(e) = store::passkeys::purge_ceremonies(&state.db, now).await {
                tracing::warn!(error = %e, "purging passkey ceremonies failed");
            }
            // OpenID sign-ins begun and never finished, spent logout tokens past their expiry.
            if let Err(e) = store::oidc::purge(&state.db, now).await {
                tracing::warn!(error = %e, "purging OpenID sign-ins failed");
            }
            if let Err(e) = store::dpop::purge(&state.db, now).await {
                tracing::warn!(error = %e, "purging seen DPoP proofs failed");
            }
            if let Err(e) = state.login_throttle.purge(now).await {
                tracing::warn!(error = %e, "purging idle login budgets failed");
            }
            n += 1;
        }
    });
}

/// One pass of the sync loop: reloads the signing keys and follows the revocation log from the
/// last sequence number seen. Public so tests can run a pass instead of waiting for the tick.
pub async fn sync_once(state: &AppState, now: i64) {
    use std::sync::atomic::Ordering;
    if let Err(e) = state.keys.reload(&state.db, now).await {
        tracing::warn!(error = %e, "reloading signing keys failed");
    }
    let after = state.revocation_seq.load(Ordering::Acquire);
    match store::sessions::revocations_after(&state.db, after).await {
        Ok(rows) => {
            for (seq, sid) in rows {
                // Dated when this server learned of it: its entry must outlive every access token
                // that was still valid until now, however late the revocation committed.
                state.revoked.insert(&sid, now);
                state.revocation_seq.fetch_max(seq, Ordering::AcqRel);
            }
        }
        Err(e) => tracing::warn!(error = %e, "syncing revocations failed"),
    }
}

/// How often a running server on SQLite picks up key rotations and revocations made by the CLI.
pub const SYNC_SECS: u64 = 2;

/// On PostgreSQL notifications do that at once; this re-sync only catches what a lost
/// connection let slip (`CLOAKROOM_RESYNC_SECS` overrides both).
pub const PG_RESYNC_SECS: u64 = 30;

/// Quiet time after which the LISTEN connection is probed (and given up if the probe hangs).
const LISTEN_PROBE: Duration = Duration::from_secs(20);

/// The channel the PostgreSQL triggers notify (migrations/postgres: revocations, key changes).
pub const SYNC_CHANNEL: &str = "cloakroom_sync";

/// Runs `sync_once` whenever the database says something changed. sqlx's listener reconnects
/// by itself; notifications sent while it was away are lost, so every reconnect syncs too.
async fn follow_notifications(state: AppState, pool: sqlx::PgPool) {
    loop {
        if pool.is_closed() {
            return; // shutting down
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(SYNC_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything that happened before the LISTEN took effect.
        sync_once(&state, state.clock.now()).await;
        loop {
            // A connection dropped without a word (a NAT's idle timeout: no reset) would leave
            // `try_recv` waiting forever; after a quiet spell, a round trip proves it alive.
            let next = match tokio::time::timeout(LISTEN_PROBE, listener.try_recv()).await {
                Ok(next) => next,
                Err(_) => match tokio::time::timeout(
                    LISTEN_PROBE,
                    sqlx::query("SELECT 1").execute(&mut listener),
                )
                .await
                {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(sqlx::Error::PoolTimedOut),
                },
            };
            match next {
                Ok(Some(_)) => {}
                // The connection dropped and came back: what was sent meanwhile is gone.
                Ok(None) => tracing::info!("LISTEN connection re-established; re-syncing"),
                Err(e) => {
                    if pool.is_closed() {
                        return; // shutting down
                    }
                    tracing::warn!(error = %e, "LISTEN connection lost");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
            sync_once(&state, state.clock.now()).await;
        }
    }
}
