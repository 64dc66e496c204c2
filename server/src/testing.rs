//! `/api/test/clock`: a control for end-to-end suites to move the server's clock forward, so
//! they can run on production lifetimes (300 s tokens, 24 h idle, 7 days) and cross each boundary
//! on cue instead of waiting on the wall clock.
//!
//! It exists only when the server is started with `CLOAKROOM_TEST_CLOCK=true`, and the server
//! refuses that setting on any address but loopback and with an https public origin (`config`):
//! whoever can move the clock can age every session and token, so the control must never be
//! reachable on a real deployment. Without the setting the route does not exist (404, like any
//! unknown API route). It is deliberately not in the OpenAPI document, which describes the API
//! a deployment serves.

use axum::{extract::State, http::header, response::Response, routing::post, Json, Router};
use serde::{Deserialize, Serialize};

use crate::{
    error::{ApiError, ApiResult},
    extract::ApiJson,
    state::AppState,
};

pub const CLOCK_PATH: &str = "/api/test/clock";

/// Longest single step: ten years (beyond any lifetime the server has).
const MAX_STEP_SECS: i64 = 10 * 365 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// Seconds to move forward (0 reads the clock).
    pub advance_secs: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ClockNow {
    /// The server's time after the step, Unix seconds.
    pub now: i64,
}

/// The control's routes, or none when the setting is off.
pub fn router(enabled: bool) -> Router<AppState> {
    if enabled {
        Router::new().route(CLOCK_PATH, post(advance))
    } else {
        Router::new()
    }
}

async fn advance(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Advance>,
) -> ApiResult<Json<ClockNow>> {
    if !(0..=MAX_STEP_SECS).contains(&body.advance_secs) {
        return Err(ApiError::Unprocessable(format!(
            "advance_secs must be between 0 and {MAX_STEP_SECS} (the clock only moves forward)"
        )));
    }
    state.clock.advance(body.advance_secs);
    let now = state.clock.now();
    tracing::warn!(
        advance_secs = body.advance_secs,
        now,
        "test clock moved forward"
    );
    Ok(Json(ClockNow { now }))
}

/// With the test clock on, every answer's `Date` is the server's (moved) time, as it is the wall
/// clock's otherwise. The wasm client dates its DPoP proofs by the server's `Date` (so a browser
/// whose own clock is off still works), and in a test run it must follow the moves too.
pub async fn date_from_clock(State(state): State<AppState>, mut res: Response) -> Response {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(state.clock.now().max(0) as u64);
    if let Ok(v) = httpdate::fmt_http_date(at).parse() {
        res.headers_mut().insert(header::DATE, v);
    }
    res
}
