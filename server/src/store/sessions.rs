//! Sessions and their refresh-token families. Rotation, reuse detection and revocation are each
//! one transaction, so two concurrent refreshes of one token can never both rotate it: on SQLite
//! because one writer applies rotations one after another (`store::rotation`), on PostgreSQL
//! because the rotating `UPDATE` locks the token's row and a concurrent one re-reads it after
//! the first commits (see `rotate_in`).

use sqlx::FromRow;

use super::{users::split_roles, with_conn, with_pool, Conn, Db, Engine};

/// What "live" means wherever sessions are listed, counted or checked: session `s` is neither
/// revoked nor past its absolute end, and its current refresh token `t` (never rotated) has
/// not idled out. `$1` is the current time.
pub(super) const LIVE: &str =
    "s.revoked_at IS NULL AND s.expires_at > $1 AND t.rotated_at IS NULL AND t.expires_at > $1";

/// What a new session needs to know about where it comes from.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub user_id: &'a str,
    /// The password hash the login checked: the session is made only if it is still the
    /// account's (a password change that committed meanwhile wins, see [`create`]).
    pub password_hash: &'a str,
    pub persistent: bool,
    /// Logged in with a DPoP proof: every refresh must carry one.
    pub dpop_bound: bool,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// Begun through an OpenID provider: its issuer, and its session id (`sid`) if the ID token
    /// carried one. The provider's back-channel logout ends the sessions that name it.
    pub oidc: Option<OidcOrigin<'a>>,
}

/// The provider a session was begun through (`NewSession::oidc`).
#[derive(Debug, Clone, Copy)]
pub struct OidcOrigin<'a> {
    pub issuer: &'a str,
    pub sid: Option<&'a str>,
}

/// Lifetimes applied when issuing refresh tokens.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh_idle: i64,
    pub session_max: i64,
    pub reuse_grace: i64,
}

/// The session facts a token is minted from.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    pub session_id: String,
    pub user_id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub persistent: bool,
    /// The session logged in with a DPoP proof; its refreshes must carry one.
    pub dpop_bound: bool,
    /// When the refresh token just issued stops working (idle limit, capped by the session's
    /// absolute end).
    pub refresh_expires_at: i64,
}

/// Creates a session with its first refresh token (given by hash), unless the account's
/// password is no longer the one the login checked: `None` then.
///
/// Why: a login that checked the old password while the owner changed it would otherwise
/// insert its session after the change had revoked every session, and live on. Here the check
/// and the insert are one transaction, and on PostgreSQL the check holds the user's row
/// (it updates `last_login_at`) until commit, so a password change (`users::change_password`, which updates
/// that row first) either waits for this session and then revokes it, or commits first and this
/// check fails. SQLite has one writer: the two transactions cannot interleave at all.
pub async fn create(
    db: &Db,
    new: &NewSession<'_>,
    username: &str,
    roles: &str,
    token_hash: &[u8],
    now: i64,
    life: Lifetimes,
) -> sqlx::Result<Option<SessionGrant>> {
    create_settling(db, new, None, username, roles, token_hash, now, life).await
}

/// [`create`], also settling a login's guess budget (`budget`'s key and how) in the same
/// transaction: the right password's attempt is given back in the commit that creates its
/// session, and not at all when no session is made (the password changed meanwhile: the
/// login is refused as wrong, and its attempt stays counted).
#[allow(clippy::too_many_arguments)]
pub async fn create_settling(
    db: &Db,
    new: &NewSession<'_>,
    budget: Option<(&str, &super::throttle::Settle)>,
    username: &str,
    roles: &str,
    token_hash: &[u8],
    now: i64,
    life: Lifetimes,
) -> sqlx::Result<Option<SessionGrant>> {
    let id = uuid::Uuid::new_v4().to_string();
    let expires_at = now + life.session_max;
    let token_expires = (now + life.refresh_idle).min(expires_at);
    // The check is an update (the user's last login time), so it holds the user's row until
    // commit on PostgreSQL (a row lock, stronger than the `FOR SHARE` it replaced) and costs
    // no statement of its own.
    let made = match &db.engine {
        // PostgreSQL: the check, the session and its first token in one statement (its rows
        // are written only if the check's `UPDATE` found the user with that password). With a
        // budget to settle, that statement and the settlement share a transaction, the user's
        // row taken first: no transaction holds a budget's row while it waits for a user's (a
        // reservation takes the budget's alone), so none waits in a cycle. Without one (a
        // passkey, a provider's sign-in) the statement is its own transaction: one round trip
        // instead of five.
        Engine::Postgres(e) => {
            let insert = sqlx::query_scalar::<_, i64>(CREATE_SESSION_PG)
                .bind(new.user_id)
                .bind(new.password_hash)
                .bind(now)
                .bind(&id)
                .bind(expires_at)
                .bind(new.persistent)
                .bind(new.dpop_bound)
                .bind(new.user_agent)
                .bind(new.ip)
                .bind(new.oidc.map(|o| o.issuer))
                .bind(new.oidc.and_then(|o| o.sid))
                .bind(token_hash)
                .bind(token_expires);
            match budget {
                None => insert.fetch_one(&e.pool).await? == 1,
                Some((key, how)) => {
                    let mut tx = e.pool.begin().await?;
                    let made = insert.fetch_one(&mut *tx).await? == 1;
                    if made {
                        super::throttle::settle_in(&mut Conn::of(&mut tx), key, how).await?;
                        tx.commit().await?;
                    }
                    made
                }
            }
        }
        Engine::Sqlite(e) => {
            let p = &e.write;
            let mut tx = p.begin().await?;
            let current: Option<i32> = sqlx::query_scalar(
                "UPDATE users SET last_login_at = $3 WHERE id = $1 AND password_hash = $2 RETURNING 1",
            )
            .bind(new.user_id)
            .bind(new.password_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            // The password changed (or the account went) since it was checked: no session, and
            // the transaction ends unused.
            if current.is_some() {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at, persistent, dpop_bound, user_agent, ip, oidc_issuer, oidc_sid)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&id)
                .bind(new.user_id)
                .bind(now)
                .bind(expires_at)
                .bind(new.persistent)
                .bind(new.dpop_bound)
                .bind(new.user_agent)
                .bind(new.ip)
                .bind(new.oidc.map(|o| o.issuer))
                .bind(new.oidc.and_then(|o| o.sid))
                .execute(&mut *tx)
                .await?;
                sqlx::query(INSERT_TOKEN)
                    .bind(token_hash)
                    .bind(&id)
                    .bind(now)
                    .bind(token_expires)
                    .execute(&mut *tx)
                    .await?;
                // After the user's row, as on PostgreSQL (SQLite has one writer anyway).
                if let Some((key, how)) = budget {
                    super::throttle::settle_in(&mut Conn::of(&mut tx), key, how).await?;
                }
                tx.commit().await?;
            }
            current.is_some()
        }
    };
    if !made {
        return Ok(None);
    }
    Ok(Some(SessionGrant {
        session_id: id,
        user_id: new.user_id.to_owned(),
        username: username.to_owned(),
        roles: split_roles(roles),
        persistent: new.persistent,
        dpop_bound: new.dpop_bound,
        refresh_expires_at: token_expires,
    }))
}

/// [`create_settling`]'s statement on PostgreSQL: the user's row updated if it still has the
/// checked password (`$1`, `$2`), and only then the session and its first token; the count of
/// users updated (0 or 1).
const CREATE_SESSION_PG: &str = "WITH u AS (
       UPDATE users SET last_login_at = $3 WHERE id = $1 AND password_hash = $2 RETURNING id
     ), s AS (
       INSERT INTO sessions (id, user_id, created_at, expires_at, persistent, dpop_bound, user_agent, ip, oidc_issuer, oidc_sid)
       SELECT $4, u.id, $3, $5, $6, $7, $8, $9, $10, $11 FROM u RETURNING id
     ), t AS (
       INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
       SELECT $12, s.id, $3, $13 FROM s
     )
     SELECT COUNT(*) FROM u";

pub(super) const INSERT_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)";

/// The fast path's statement up to the token it is for (`$1` is now): a current, unexpired
/// token of a live session is marked rotated...
macro_rules! fast_rotation {
    () => {
        "UPDATE refresh_tokens SET rotated_at = $1
         WHERE rotated_at IS NULL AND expires_at > $1
           AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id
                       AND s.revoked_at IS NULL AND s.expires_at > $1)
           AND "
    };
}
/// ...and what its access token needs is read back in the same statement.
macro_rules! fast_rotation_returning {
    () => {
        " RETURNING token_hash, session_id,
           (SELECT s.user_id FROM sessions s WHERE s.id = refresh_tokens.session_id) AS user_id,
           (SELECT s.expires_at FROM sessions s WHERE s.id = refresh_tokens.session_id) AS session_expires_at,
           (SELECT s.persistent FROM sessions s WHERE s.id = refresh_tokens.session_id) AS persistent,
           (SELECT s.dpop_bound FROM sessions s WHERE s.id = refresh_tokens.session_id) AS dpop_bound,
           (SELECT u.username FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = refresh_tokens.session_id) AS username,
           (SELECT u.roles FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = refresh_tokens.session_id) AS roles"
    };
}

/// PostgreSQL's fast path for one token (`$2`) in one statement: the rotation, and its
/// successor (`$3`) written from the row the `UPDATE` returned, expiring after `$4` seconds idle
/// or with its session, whichever is first (as [`rotate_in`]'s fast path). A data-modifying
/// `WITH` runs to completion whether or not the outer query reads it.
pub(super) const FAST_ROTATION_PG: &str = concat!(
    "WITH r AS (",
    fast_rotation!(),
    "token_hash = $2",
    fast_rotation_returning!(),
    "), successor AS (
       INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
       SELECT $3, r.session_id, $1, LEAST($1 + $4, r.session_expires_at) FROM r
     )
     SELECT * FROM r"
);

/// The fast path for one token (`$2`), a text fixed at compile time: nothing is formatted per
/// rotation.
const FAST_ROTATION_ONE: &str = concat!(
    fast_rotation!(),
    "token_hash = $2",
    fast_rotation_returning!()
);

/// The SQLite group commit's step 1 (`store::rotation`; docs/security.md, "How rotations are
/// written") for the tokens presented at `now`, as (token, successor) pairs, in one query text:
/// one round trip to SQLite's thread. `begin` puts `BEGIN IMMEDIATE` in front, for the batch's
/// first clock reading. Each presented token that is current, unexpired and of a live session
/// is marked rotated and comes back once, however often it is in `pairs`; then the successor
/// of each token so rotated is written (living until `refresh_idle` from now, or its session's
/// end if sooner). Returns those rows and the successors written, which the caller checks are
/// exactly the rotated tokens' own. SQLite stops at the first statement that fails, so on an
/// error the transaction may be open: the caller rolls back.
pub(super) async fn rotate_current_in(
    conn: &mut sqlx::SqliteConnection,
    begin: bool,
    pairs: &[(&[u8], &[u8])],
    now: i64,
    refresh_idle: i64,
) -> sqlx::Result<(Vec<FastRotation>, Vec<Vec<u8>>)> {
    use futures_util::TryStreamExt;
    use sqlx::Either;
    let Some(&last) = pairs.last() else {
        // (The batch's first reading is never empty: this would skip its `BEGIN`.)
        return Err(sqlx::Error::Protocol(
            "a batch's reading without tokens".into(),
        ));
    };
    // Padded to a power of two (with repeats of the last pair, which change nothing), so a
    // handful of texts serve every batch size and stay in sqlx's statement cache.
    let size = pairs.len().next_power_of_two();
    let values = (0..size)
        .map(|i| format!("(${}, ${})", 2 * i + 3, 2 * i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    // `$1` is now and `$2` the successors' idle lifetime in both statements (sqlx binds `$N`
    // to the query's Nth argument in every statement of the text). The `UPDATE` rotates the
    // current tokens first, as a rotation of its own does. The `INSERT` then writes the
    // successors of exactly those: the presented tokens rotated at this reading whose
    // successor does not exist yet (one rotated earlier at the same reading got its successor
    // in the same transaction as its rotation). A successor presented beside its parent did
    // not exist when the `UPDATE` ran: it is left for step 2, and rotates there.
    let sql = format!(
        concat!(
            "{begin}WITH b(old, new) AS (VALUES {values}) ",
            fast_rotation!(),
            "token_hash IN (SELECT old FROM b)",
            fast_rotation_returning!(),
            ";
             WITH b(old, new) AS (VALUES {values})
             INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
             SELECT DISTINCT b.new, t.session_id, $1, MIN($1 + $2, s.expires_at)
               FROM b JOIN refresh_tokens t ON t.token_hash = b.old
                      JOIN sessions s ON s.id = t.session_id
              WHERE t.rotated_at = $1
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.token_hash = b.new)
             RETURNING token_hash"
        ),
        begin = if begin { "BEGIN IMMEDIATE; " } else { "" },
        values = values
    );
    let mut q = sqlx::query(&sql).bind(now).bind(refresh_idle);
    for (old, new) in pairs
        .iter()
        .chain(std::iter::repeat_n(&last, size - pairs.len()))
    {
        q = q.bind(*old).bind(*new);
    }
    let mut rows = Vec::new();
    let mut written = Vec::new();
    let mut done = 0;
    // Rows come before their statement's result: the `UPDATE`'s until its result, then the
    // `INSERT`'s.
    let update_ends = if begin { 2 } else { 1 };
    // Several statements in one prepared query are SQLite's alone among sqlx's drivers, and
    // sqlx 0.8 marks that deprecated (its issue 3108) while it still supports it; `raw_sql`,
    // its suggestion, takes no bound arguments, and these are tokens. Should a later sqlx drop
    // it, every rotation fails at once, and so does every rotation test.
    #[allow(deprecated)]
    let mut results = q.fetch_many(conn);
    while let Some(r) = results.try_next().await? {
        match r {
            Either::Left(_) => done += 1,
            Either::Right(row) if done < update_ends => rows.push(FastRotation::from_row(&row)?),
            Either::Right(row) => written.push(sqlx::Row::try_get::<Vec<u8>, _>(&row, 0)?),
        }
    }
    // One result per statement, `BEGIN` included.
    if done != update_ends + 1 {
        return Err(sqlx::Error::Protocol(
            "the batch's statements did not all complete".into(),
        ));
    }
    Ok((rows, written))
}

#[derive(Debug, FromRow)]
struct TokenLookup {
    session_id: String,
    token_expires_at: i64,
    rotated_at: Option<i64>,
    user_id: String,
    session_expires_at: i64,
    revoked_at: Option<i64>,
    persistent: bool,
    dpop_bound: bool,
    username: String,
    roles: String,
}

#[derive(Debug, FromRow)]
pub(super) struct FastRotation {
    pub(super) token_hash: Vec<u8>,
    pub(super) session_id: String,
    user_id: String,
    pub(super) session_expires_at: i64,
    persistent: bool,
    dpop_bound: bool,
    username: String,
    roles: String,
}

impl FastRotation {
    /// The session facts of the rotated token, its successor living until `refresh_expires_at`.
    pub(super) fn grant(self, refresh_expires_at: i64) -> SessionGrant {
        SessionGrant {
            roles: split_roles(&self.roles),
            session_id: self.session_id,
            user_id: self.user_id,
            username: self.username,
            persistent: self.persistent,
            dpop_bound: self.dpop_bound,
            refresh_expires_at,
        }
    }
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was current: it is now rotated and `new_hash` is the session's current token.
    Rotated(SessionGrant),
    /// The token was rotated before, but its successor (`new_hash`) has never been presented: a
    /// concurrent duplicate, or a retry after a lost answer. The caller answers with the same
    /// successor again; nothing is written. `since_rotation` tells the two apart for the event log.
    Repeated {
        grant: SessionGrant,
        since_rotation: i64,
    },
    /// The token's successor has been used already, but the token itself was rotated moments
    /// ago (within the grace window): a straggler of a race, or a replay. Mint an access token,
    /// issue no refresh token (the client's cookie is already newer), revoke nothing.
    Grace(SessionGrant),
    /// The token had already been rotated before the grace window: theft is assumed and the
    /// whole session is now revoked.
    Reused { session_id: String, user_id: String },
    /// Unknown, expired, or its session is over.
    Invalid,
}

/// Presents refresh token `old_hash`; on success it is replaced by `new_hash`, which must be the
/// hash of its deterministic successor (`auth::refresh::successor`): that is how a repeat finds
/// out whether the successor has been used. On SQLite it runs in the group-commit writer
/// (`store::rotation`); on PostgreSQL as one statement when the token is current
/// ([`FAST_ROTATION_PG`]), else in a transaction of its own ([`rotate_in`]).
pub async fn rotate(
    db: &Db,
    old_hash: &[u8; 32],
    new_hash: &[u8; 32],
    now: i64,
    life: Lifetimes,
) -> sqlx::Result<RefreshOutcome> {
    match &db.engine {
        Engine::Sqlite(e) => e.rotator.rotate(*old_hash, *new_hash, now, life).await,
        Engine::Postgres(e) => {
            // The common case in one statement, its own transaction (docs/security.md, "How
            // rotations are written"): the token rotated and its successor written, or neither.
            let fast: Option<FastRotation> = sqlx::query_as(FAST_ROTATION_PG)
                .bind(now)
                .bind(&old_hash[..])
                .bind(&new_hash[..])
                .bind(life.refresh_idle)
                .fetch_optional(&e.pool)
                .await?;
            if let Some(f) = fast {
                let token_expires = (now + life.refresh_idle).min(f.session_expires_at);
                return Ok(RefreshOutcome::Rotated(f.grant(token_expires)));
            }
            // Not current, or a concurrent presentation rotated it first: why is decided in a
            // transaction, as before (its own fast path runs again, and rotates a token that
            // became current a moment ago, a successor committed since, as it always did).
            let mut tx = e.pool.begin().await?;
            let out = rotate_in(&mut Conn::of(&mut tx), old_hash, new_hash, now, life).await?;
            tx.commit().await?;
            Ok(out)
        }
    }
}

/// One rotation inside an open transaction: the lookup, the reuse decision and the swap all see
/// one consistent database.
///
/// SQLite: nothing else writes in between (one writer). PostgreSQL (READ COMMITTED, several
/// instances): the fast path's `UPDATE` locks the token's row; a concurrent presentation of the
/// same token waits for that lock, then re-checks `rotated_at IS NULL` against the committed row,
/// finds it rotated and takes the slow path, whose reads then see the committed successor. So a
/// token rotates exactly once whichever instance each request reaches, and every duplicate gets
/// the same successor (`Repeated`).
pub(super) async fn rotate_in(
    conn: &mut Conn<'_>,
    old_hash: &[u8],
    new_hash: &[u8],
    now: i64,
    life: Lifetimes,
) -> sqlx::Result<RefreshOutcome> {
    // Fast path, nearly every refresh: the token is current and its session live. Mark it
    // rotated and read what the access token needs in one statement.
    let fast: Option<FastRotation> = with_conn!(conn, c => sqlx::query_as(
        FAST_ROTATION_ONE,
    )
    .bind(now)
    .bind(old_hash)
    .fetch_optional(c)
    .await)?;
    if let Some(f) = fast {
        let token_expires = (now + life.refresh_idle).min(f.session_expires_at);
        with_conn!(conn, c => sqlx::query(INSERT_TOKEN)
            .bind(new_hash)
            .bind(&f.session_id)
            .bind(now)
            .bind(token_expires)
            .execute(c)
            .await
            .map(|_| ()))?;
        return Ok(RefreshOutcome::Rotated(f.grant(token_expires)));
    }
    // Slow path: find out why the token is not current (grace, reuse, or simply invalid).
    let row: Option<TokenLookup> = with_conn!(conn, c => sqlx::query_as(
        "SELECT t.session_id, t.expires_at AS token_expires_at, t.rotated_at,
                s.user_id, s.expires_at AS session_expires_at, s.revoked_at, s.persistent, s.dpop_bound,
                u.username, u.roles
         FROM refresh_tokens t
         JOIN sessions s ON s.id = t.session_id
         JOIN users u ON u.id = s.user_id
         WHERE t.token_hash = $1",
    )
    .bind(old_hash)
    .fetch_optional(c)
    .await)?;
    let Some(row) = row else {
        return Ok(RefreshOutcome::Invalid);
    };
    if row.revoked_at.is_some() || row.session_expires_at <= now {
        return Ok(RefreshOutcome::Invalid);
    }
    let grant = |refresh_expires_at| SessionGrant {
        session_id: row.session_id.clone(),
        user_id: row.user_id.clone(),
        username: row.username.clone(),
        roles: split_roles(&row.roles),
        persistent: row.persistent,
        dpop_bound: row.dpop_bound,
        refresh_expires_at,
    };
    if let Some(rotated_at) = row.rotated_at {
        let successor: Option<(Option<i64>, i64)> = with_conn!(conn, c => sqlx::query_as(
            "SELECT rotated_at, expires_at FROM refresh_tokens WHERE token_hash = $1 AND session_id = $2",
        )
        .bind(new_hash)
        .bind(&row.session_id)
        .fetch_optional(c)
        .await)?;
        match successor {
            // Never presented and still valid: hand out the same successor again.
            Some((None, expires_at)) if expires_at > now => {
                return Ok(RefreshOutcome::Repeated {
                    grant: grant(expires_at),
                    since_rotation: now - rotated_at,
                })
            }
            // Never presented, but idled out: the session is over, not stolen.
            Some((None, _)) => return Ok(RefreshOutcome::Invalid),
            // Used (or, for tokens rotated before successors were derived, unknown): a repeat
            // is a straggler only within the grace window, theft after it.
            Some((Some(_), _)) | None => {}
        }
        if now - rotated_at <= life.reuse_grace {
            return Ok(RefreshOutcome::Grace(grant(row.token_expires_at)));
        }
        revoke_in(conn, &row.session_id, now, "refresh token reuse").await?;
        return Ok(RefreshOutcome::Reused {
            session_id: row.session_id,
            user_id: row.user_id,
        });
    }
    // Current but expired (idle), or its session ended: the fast path did not match.
    Ok(RefreshOutcome::Invalid)
}

async fn revoke_in(
    conn: &mut Conn<'_>,
    session_id: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<()> {
    with_conn!(conn, c => sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .execute(c)
    .await
    .map(|_| ()))
}

/// The live session a refresh token (current or recently rotated) belongs to, with its user.
pub async fn find_by_token(
    db: &Db,
    token_hash: &[u8],
    now: i64,
) -> sqlx::Result<Option<(String, String)>> {
    with_pool!(db, read, p => sqlx::query_as(
        "SELECT s.id, s.user_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(p)
    .await)
}

/// Why the session of a refresh token was ended (`revoked_reason`: "logout", "password
/// changed", …), if it was revoked and the token was its newest (the browser's own cookie; a
/// stale copy of an older one learns nothing). For the refusal's words only: the refusal itself
/// never depends on it.
pub async fn revoked_reason(db: &Db, token_hash: &[u8]) -> sqlx::Result<Option<String>> {
    let row: Option<Option<String>> = with_pool!(db, read, p => sqlx::query_scalar(
        "SELECT s.revoked_reason FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND s.revoked_at IS NOT NULL",
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row.flatten())
}

/// Revokes one session of `user_id`. `false` if it is not that user's live session.
pub async fn revoke(
    db: &Db,
    user_id: &str,
    session_id: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<bool> {
    let n = with_pool!(db, write, p => sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
         WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .bind(user_id)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

const REVOKE_ALL: &str = "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
     WHERE user_id = $3 AND revoked_at IS NULL RETURNING id";

/// Revokes every live session of a user; returns their ids.
pub async fn revoke_all(
    db: &Db,
    user_id: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<Vec<String>> {
    with_pool!(db, write, p => {
        let mut c = p.acquire().await?;
        revoke_all_in(&mut (&mut *c).into(), user_id, now, reason).await
    })
}

/// [`revoke_all`] inside a transaction of the caller's (a password change, an account's
/// deletion), so the revocation commits with the change it belongs to.
pub(crate) async fn revoke_all_in(
    conn: &mut Conn<'_>,
    user_id: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<Vec<String>> {
    with_conn!(conn, c => sqlx::query_scalar(REVOKE_ALL)
        .bind(now)
        .bind(reason)
        .bind(user_id)
        .fetch_all(c)
        .await)
}

/// Whether a session's refresh cookie is persistent ("remember me"), if the session exists.
pub async fn is_persistent(db: &Db, session_id: &str) -> sqlx::Result<Option<bool>> {
    with_pool!(db, read, p => sqlx::query_scalar("SELECT persistent FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(p)
        .await)
}

/// Sessions revoked at or after `since`: their access tokens may still be unexpired.
pub async fn revoked_since(db: &Db, since: i64) -> sqlx::Result<Vec<(String, i64)>> {
    with_pool!(db, read, p => sqlx::query_as(
        "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
    )
    .bind(since)
    .fetch_all(p)
    .await)
}

/// The newest revocation's sequence number (0 if none): where a server starts following them.
pub async fn last_revocation_seq(db: &Db) -> sqlx::Result<i64> {
    with_pool!(db, read, p => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM revocations")
        .fetch_one(p)
        .await)
}

/// Revocations numbered after `seq`, oldest first: (seq, session id).
pub async fn revocations_after(db: &Db, seq: i64) -> sqlx::Result<Vec<(i64, String)>> {
    with_pool!(db, read, p => sqlx::query_as("SELECT seq, session_id FROM revocations WHERE seq > $1 ORDER BY seq")
        .bind(seq)
        .fetch_all(p)
        .await)
}

/// Forgets revocation log entries logged (by the database's clock) before `before`: servers have
/// long followed them.
pub async fn purge_revocation_log(db: &Db, before: i64) -> sqlx::Result<u64> {
    with_pool!(db, write, p => Ok(sqlx::query("DELETE FROM revocations WHERE logged_at < $1")
        .bind(before)
        .execute(p)
        .await?
        .rows_affected()))
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A user's live sessions: not revoked, within their absolute lifetime, and holding a current
/// refresh token that has not idled out. Most recently used first.
pub async fn list_live(db: &Db, user_id: &str, now: i64) -> sqlx::Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT s.id, s.created_at, t.issued_at AS last_used_at, s.user_agent, s.ip
         FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
         WHERE s.user_id = $2 AND {LIVE}
         ORDER BY last_used_at DESC, s.id"
    );
    with_pool!(db, read, p => sqlx::query_as(&sql).bind(now).bind(user_id).fetch_all(p).await)
}

/// Deletes sessions (and, by cascade, their tokens) that ended before `before`.
pub async fn purge_ended(db: &Db, before: i64) -> sqlx::Result<u64> {
    with_pool!(db, write, p => Ok(sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
        .bind(before)
        .execute(p)
        .await?
        .rows_affected()))
}
