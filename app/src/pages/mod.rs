//! One file per page.

pub mod account;
pub mod admin;
pub mod inspector;
pub mod lab;
pub mod login;
pub mod notes;
pub mod sessions;
pub mod signup;
