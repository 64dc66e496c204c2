//! Password hashing with argon2id, off the async runtime.
//!
//! OWASP parameters (m = 19 MiB, t = 2, p = 1). Each hash or verify runs on the blocking pool
//! behind a semaphore sized to the cores: a login flood then queues here instead of occupying
//! every blocking thread and every core's worth of memory bandwidth, and token routes keep
//! their runtime threads.

use std::sync::Arc;

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the username is unknown so a
    /// login for a missing user costs the same argon2 work as for an existing one.
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub fn new(m_kib: u32) -> anyhow::Result<Self> {
        let params =
            Params::new(m_kib, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let pw = password.expose().to_owned();
        let params = self.params.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2(params)
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing: {e}"))
        })
        .await
    }

    /// Verifies against `phc`, or against the dummy hash when `phc` is `None`, in which case the
    /// answer is always `false`.
    pub async fn verify(&self, password: &Password, phc: Option<&str>) -> anyhow::Result<bool> {
        let (phc, real) = match phc {
            Some(p) => (p.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let pw = password.expose().to_owned();
        let params = self.params.clone();
        let ok = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                Ok(Self::argon2(params)
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(ok && real)
    }

    async fn dummy_hash(&self) -> anyhow::Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
                self.hash(&Password::for_login(&format!("{random:?}")))
                    .await
            })
            .await
            .cloned()
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        tokio::task::spawn_blocking(f)
            .await
            .context("hashing task panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = Hasher::new(64).unwrap();
        let pw = Password::for_login("a long enough password");
        let phc = h.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=2,p=1$"), "{phc}");
        assert!(h.verify(&pw, Some(&phc)).await.unwrap());
        assert!(!h
            .verify(&Password::for_login("wrong password!!"), Some(&phc))
            .await
            .unwrap());
        assert!(!h.verify(&pw, None).await.unwrap());
    }
}
