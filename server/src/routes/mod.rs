//! HTTP routes, one file per area, each with its own `router()`; merged in `startup`.

pub mod account;
pub mod admin;
pub mod auth;
pub mod csp;
pub mod me;
pub mod meta;
pub mod notes;
pub mod oidc;
pub mod openapi;
pub mod passkeys;
pub mod token;
