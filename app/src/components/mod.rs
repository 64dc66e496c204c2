//! Reusable view pieces.

pub mod guard;
pub mod nav;
