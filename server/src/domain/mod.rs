//! Types that validate when parsed: a handler holding a `Username` knows it is well formed, so
//! an invalid value cannot reach the store.

pub(crate) mod note;
mod password;
pub mod user_agent;
mod username;

pub use note::{NoteBody, NoteTitle};
pub use password::Password;
pub use username::{fold as fold_username, Username};
