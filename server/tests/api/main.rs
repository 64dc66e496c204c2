//! Integration tests through the real HTTP surface: one binary, one module per area.

mod helpers;

mod account;
mod attacks;
mod auth_flow;
mod csrf;
mod dpop;
mod faults;
mod headers;
mod notes;
mod oidc;
mod openapi;
mod ops;
mod origins;
mod passkeys;
mod rejections;
mod requests;
mod scale_out;
mod sessions;
mod simplejwt;
mod tokens;
