//! Reusable view pieces.

pub mod fetch;
pub mod guard;
pub mod nav;
pub mod time;
