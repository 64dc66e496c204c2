//! Password hashing with argon2id, off the async runtime.
//!
//! OWASP parameters (m = 19 MiB, t = 2, p = 1). Each hash or verify runs on a pool of its own
//! threads, one per core, behind a semaphore of the same size, so a login flood queues here
//! instead of taking the blocking pool (static files) or the async workers. The pool's threads
//! run at a lower scheduling priority (nice 10): under a flood every core is busy hashing, and
//! without it the token routes would get only a share of the CPU; with it they are served first
//! and hashing takes whatever is left.
//!
//! Load shedding: at most `queue` requests may wait for a permit. Past that a hash is refused at
//! once (`HashError::Busy`, answered 503 with `Retry-After` on the credential routes only), so a
//! login flood can neither queue without bound nor hold the server-wide in-flight permits that
//! `/api/me`, refresh, notes and the health checks need.
//!
//! Memory: each permit owns one pre-allocated 19 MiB block buffer, reused by every hash that
//! runs under it. Letting argon2 allocate per call made the allocator keep those buffers in
//! per-thread arenas (measured: 30 MiB → 507 MiB RSS under a login flood); with the pool, peak
//! memory is bounded by `cores × m` whatever the load.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc, Mutex, OnceLock,
};

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, rand_core::RngCore, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
use tokio::sync::{OnceCell, Semaphore};

use crate::{domain::Password, error::ApiError};

const OUTPUT_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every permit is taken and the wait queue is full: shed this request.
    #[error("password hashing is at capacity")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Waiters allowed per core by default (`CLOAKROOM_HASH_QUEUE` overrides the total).
pub const DEFAULT_QUEUE_PER_CORE: usize = 8;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit right now, and how many may.
    waiting: Arc<AtomicUsize>,
    queue: usize,
    /// One block buffer per permit; a task takes one after acquiring its permit.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    /// The hashing threads (as many as permits), started on first use (tests and idle servers
    /// never pay for them).
    pool: Arc<OnceLock<Pool>>,
    threads: usize,
    /// A real hash of a random password, verified against when the username is unknown so a
    /// login for a missing user costs the same argon2 work as for an existing one.
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    /// A hasher running one hash per core, with the default wait queue.
    pub fn new(m_kib: u32) -> anyhow::Result<Self> {
        Self::with_queue(m_kib, None)
    }

    /// One hash per core, at most `queue` waiting (default: `DEFAULT_QUEUE_PER_CORE` per core).
    pub fn with_queue(m_kib: u32, queue: Option<usize>) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self::with_limits(
            m_kib,
            cores,
            queue.unwrap_or(cores * DEFAULT_QUEUE_PER_CORE),
        )
    }

    /// `concurrency` hashes at once, at most `queue` waiting.
    pub fn with_limits(m_kib: u32, concurrency: usize, queue: usize) -> anyhow::Result<Self> {
        let params = Params::new(m_kib, 2, 1, Some(OUTPUT_LEN))
            .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let cores = concurrency.max(1);
        // Allocated lazily on first use (tests and idle servers never pay for them).
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue,
            pool: Arc::new(OnceLock::new()),
            threads: cores,
            buffers: Arc::new(Mutex::new(Vec::with_capacity(cores))),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    /// Takes every free hashing slot and holds it until the returned permits drop: what a flood
    /// that has filled the hasher looks like, for tests that play one without timing anything.
    pub fn occupy(&self) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        std::iter::from_fn(|| self.permits.clone().try_acquire_owned().ok()).collect()
    }

    /// Hashes that may run or wait at once: what the credential routes' own in-flight gate is
    /// sized from.
    pub fn capacity(&self) -> usize {
        self.threads + self.queue
    }

    /// Requests waiting for a hashing slot right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for a new password.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let pw = password.expose().to_owned();
        let params = self.params.clone();
        self.run(move |blocks| {
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            let mut out = [0u8; OUTPUT_LEN];
            compute(&params, pw.as_bytes(), &salt, &mut out, blocks)?;
            Ok(format!(
                "$argon2id$v=19$m={},t={},p={}${}${}",
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                SaltString::encode_b64(&salt)
                    .map_err(|e| anyhow::anyhow!("salt: {e}"))?
                    .as_str(),
                STANDARD_NO_PAD.encode(out)
            ))
        })
        .await
    }

    /// Verifies against `phc`, or against the dummy hash when `phc` is `None`, in which case the
    /// answer is always `false`.
    pub async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, HashError> {
        let (phc, real) = match phc {
            Some(p) => (p.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let pw = password.expose().to_owned();
        let ok = self
            .run(move |blocks| {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                if parsed.algorithm.as_str() != "argon2id" {
                    anyhow::bail!("stored hash is not argon2id");
                }
                let params =
                    Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored params: {e}"))?;
                let mut salt = [0u8; 64];
                let salt = parsed
                    .salt
                    .context("stored hash has no salt")?
                    .decode_b64(&mut salt)
                    .map_err(|e| anyhow::anyhow!("stored salt: {e}"))?;
                let expected = parsed.hash.context("stored hash has no output")?;
                let mut out = vec![0u8; expected.len()];
                compute(&params, pw.as_bytes(), salt, &mut out, blocks)?;
                Ok(constant_time_eq(&out, expected.as_bytes()))
            })
            .await?;
        Ok(ok && real)
    }

    async fn dummy_hash(&self) -> Result<String, HashError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                OsRng.fill_bytes(&mut random);
                self.hash(&Password::for_login(&STANDARD_NO_PAD.encode(random)))
                    .await
            })
            .await
            .cloned()
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit moves into the blocking task and is released only when the hash is done:
        // if the request is cancelled (client gone), the work still counts against the limit
        // and its buffer goes back to the pool, so neither concurrency nor memory can exceed
        // `cores` hashes.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(HashError::Busy);
                }
                // Decremented however the wait ends, cancellation included.
                let _waiter = Waiter(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .context("hasher closed")?
            }
        };
        let buffers = self.buffers.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        let pool = self.pool.get_or_init(|| Pool::start(self.threads));
        pool.run(Box::new(move || {
            let taken = buffers.lock().ok().and_then(|mut p| p.pop());
            let mut blocks = taken.unwrap_or_default();
            let r = f(&mut blocks);
            if let Ok(mut p) = buffers.lock() {
                p.push(blocks);
            }
            drop(permit);
            let _ = done.send(r);
        }))?;
        result
            .await
            .context("hashing task panicked")?
            .map_err(HashError::Failed)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads. They end when the `Hasher` (every clone of it) is dropped.
struct Pool {
    jobs: mpsc::Sender<Job>,
}

/// Scheduling priority of the hashing threads (Linux nice value; higher is lower priority).
pub const HASH_NICE: i32 = 10;

impl Pool {
    fn start(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock().map(|r| r.recv()) {
                            Ok(Ok(job)) => job,
                            _ => return,
                        };
                        // A panicking hash must not take the thread (and a core) with it: the
                        // job's result channel drops and its caller sees an error.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Self { jobs: tx }
    }

    fn run(&self, job: Job) -> Result<(), HashError> {
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("hashing pool stopped"))?;
        Ok(())
    }
}

/// Lowers the calling thread's priority by `HASH_NICE` (on Linux, nice is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: get/setpriority only read their integer arguments; the id is this thread's own.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, current + HASH_NICE);
    }
}

struct Waiter<'a>(&'a AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Argon2id into `out`, growing `blocks` only if these parameters need more than it has.
fn compute(
    params: &Params,
    pw: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> anyhow::Result<()> {
    let n = params.block_count();
    if blocks.len() < n {
        blocks.resize(n, Block::new());
    }
    let params = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(out.len()),
    )
    .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(pw, salt, out, &mut blocks[..n])
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Comparison whose time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A full hash queue sheds the request with 503 + `Retry-After` (credential routes only: they
/// are the only ones that hash).
impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::Overloaded(
                "too many logins are being checked right now; retry in a moment".into(),
            ),
            HashError::Failed(e) => ApiError::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

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

    #[tokio::test]
    async fn interoperates_with_the_reference_phc_implementation() {
        let h = Hasher::new(64).unwrap();
        let pw = "interop password";
        // Ours verifies by the argon2 crate's own verifier…
        let ours = h.hash(&Password::for_login(pw)).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(pw.as_bytes(), &parsed)
            .is_ok());
        // …and a hash made by it (other parameters) verifies by ours.
        let theirs = argon2::PasswordHasher::hash_password(
            &Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(128, 3, 1, None).unwrap(),
            ),
            pw.as_bytes(),
            &SaltString::generate(&mut OsRng),
        )
        .unwrap()
        .to_string();
        assert!(h
            .verify(&Password::for_login(pw), Some(&theirs))
            .await
            .unwrap());
        assert!(!h
            .verify(&Password::for_login("nope nope nope"), Some(&theirs))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_sheds_at_once_and_recovers() {
        // One permit (held here), one place in the queue.
        let h = Hasher::with_limits(64, 1, 1).unwrap();
        let pw = Password::for_login("queue test password");
        let held = h.permits.clone().try_acquire_owned().unwrap();
        let (h2, pw2) = (h.clone(), Password::for_login("queue test password"));
        let queued = tokio::spawn(async move { h2.hash(&pw2).await });
        while h.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(h.hash(&pw).await, Err(HashError::Busy)));
        drop(held);
        assert!(queued.await.unwrap().is_ok(), "the queued hash ran");
        assert_eq!(h.waiting.load(Ordering::Acquire), 0);
        assert!(
            h.hash(&pw).await.is_ok(),
            "capacity is back once the queue drained"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_below_the_request_handlers_priority() {
        let h = Hasher::new(64).unwrap();
        let nice = h
            .run(|_| {
                // SAFETY: getpriority reads its integer arguments only.
                Ok(unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) })
            })
            .await
            .unwrap();
        // SAFETY: as above.
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_eq!(nice, (ours + HASH_NICE).min(19));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        // Two differences that are the same bit: an XOR-fold would let them cancel out.
        assert!(!constant_time_eq(&[1, 1], &[0, 0]));
    }

    #[test]
    fn capacity_is_the_hash_threads_plus_the_queue() {
        let h = Hasher::with_queue(64, Some(5)).unwrap();
        assert_eq!(h.capacity(), h.threads + 5);
    }
}
