//! Attacks on cookies (see mod.rs).
