//! PostgreSQL LISTEN/NOTIFY as a wake-up hint.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Wakes `wake` whenever `channel` is notified on PostgreSQL; reconnects
/// two seconds after the connection is lost. Runs until dropped. A
/// notification is only a hint: callers also poll, so one lost while the
/// listener reconnects only delays them to their next poll.
pub async fn wake_on_notify(pool: sqlx::PgPool, channel: &'static str, wake: Arc<Notify>) {
    loop {
        let listened = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        if let Err(e) = listened.await {
            tracing::debug!(channel, error = %e, "notification listener lost; retrying");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
