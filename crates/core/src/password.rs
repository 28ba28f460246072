//! Password hashing with argon2id (PHC string format).
//!
//! [`hash`] and [`verify`] take tens of milliseconds of CPU and 19 MiB of
//! memory each. Async code calls [`hash_off_thread`] and
//! [`verify_off_thread`] instead: they run on tokio's blocking pool, at
//! most one per core at a time, so a storm of logins queues instead of
//! stalling the async workers or taking 19 MiB per waiting request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// How many hashes may run at once: one per core.
pub fn max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(max_concurrent()))
}

/// Hashes running now, and the most that ever ran at once (for tests).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most hashes [`hash_off_thread`] and [`verify_off_thread`] ever ran
/// at once in this process.
pub fn peak_concurrent() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs `work` on the blocking pool once a permit is free; `None` when the
/// blocking task panicked or the runtime is shutting down.
async fn limited<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _permit = permits().acquire().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let now = RUNNING.fetch_add(1, Ordering::Relaxed) + 1;
        PEAK.fetch_max(now, Ordering::Relaxed);
        let out = work();
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        out
    })
    .await
    .ok()
}

/// [`hash`] off the async workers, at most [`max_concurrent`] at a time.
pub async fn hash_off_thread(password: String) -> Result<String, String> {
    limited(move || hash(&password))
        .await
        .unwrap_or_else(|| Err("cannot hash password: the hashing task ended".into()))
}

/// [`verify`] off the async workers, at most [`max_concurrent`] at a time.
/// False when the check could not run.
pub async fn verify_off_thread(password: String, phc: String) -> bool {
    limited(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// Hashes `password` with argon2id and a random salt; returns the PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Checks `password` against a PHC string made by [`hash`]. A malformed
/// stored hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Rejects passwords that are empty or too long to be sensible.
pub fn validate(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("password must not be empty".into());
    }
    if password.chars().count() > 1024 {
        return Err("password is longer than 1024 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn off_thread_hashing_runs_at_most_one_per_core() {
        let phc = super::hash("pw").unwrap();
        let limit = super::max_concurrent();
        let checks: Vec<_> = (0..limit * 4)
            .map(|i| {
                let phc = phc.clone();
                tokio::spawn(async move {
                    let password = if i % 2 == 0 { "pw" } else { "wrong" };
                    (i, super::verify_off_thread(password.into(), phc).await)
                })
            })
            .collect();
        for check in checks {
            let (i, ok) = check.await.unwrap();
            assert_eq!(ok, i % 2 == 0, "check {i}");
        }
        let made = super::hash_off_thread("pw".into()).await.unwrap();
        assert!(super::verify("pw", &made));
        let peak = super::peak_concurrent();
        assert!(peak >= 1 && peak <= limit, "peak {peak}, limit {limit}");
    }

    #[test]
    fn hash_verifies_only_the_right_password() {
        let h = super::hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("s3cret", &h));
        assert!(!super::verify("s3cret!", &h));
        assert!(!super::verify("s3cret", "not-a-hash"));
        assert_ne!(super::hash("s3cret").unwrap(), h, "salts differ");
    }
}
