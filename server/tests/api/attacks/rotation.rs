//! Attacks on rotation (see mod.rs).
