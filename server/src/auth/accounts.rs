//! Creating accounts: parse, hash, create, "taken?", in one place for the signup route and the
//! operator CLI (`ops::create_user`), so both apply the same username and password rules.

use crate::{
    auth::password::{HashError, Hasher},
    domain::{Password, Username},
    error::ApiError,
    store::{
        self,
        users::{CreateUser, UserRow},
        Db,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The username or password breaks a rule (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The username is taken (case-insensitively).
    #[error("username {0:?} is taken")]
    Taken(String),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Invalid(m) => ApiError::Unprocessable(m),
            e @ CreateError::Taken(_) => ApiError::Conflict(e.to_string()),
            CreateError::Hash(h) => h.into(),
            CreateError::Store(s) => s.into(),
        }
    }
}

/// Creates an account for `username` with `password`, at `now`.
pub async fn create(
    db: &Db,
    hasher: &Hasher,
    username: &str,
    password: &str,
    now: i64,
) -> Result<UserRow, CreateError> {
    let username = Username::parse(username).map_err(CreateError::Invalid)?;
    let password =
        Password::parse_new(password, username.as_str()).map_err(CreateError::Invalid)?;
    let hash = hasher.hash(&password).await?;
    match store::users::create(db, username.as_str(), &hash, now).await? {
        CreateUser::Created(u) => Ok(u),
        CreateUser::UsernameTaken => Err(CreateError::Taken(username.as_str().to_owned())),
    }
}
