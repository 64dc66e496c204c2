//! Attacks on operators (see mod.rs).
