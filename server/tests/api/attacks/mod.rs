//! The attack suite: the adversary's view of Cloakroom in one place. Each test is named for the
//! attack it plays and asserts what the attacker gets (nothing, or exactly what
//! docs/security.md says they get). Browser-level attacks are in end2end/tests/attacks*.spec.ts.

mod cookies;
mod login;
mod operators;
mod rotation;
