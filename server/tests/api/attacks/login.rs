//! Attacks on login (see mod.rs).
