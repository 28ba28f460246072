//! The macros that run one query text on either driver.

/// Runs `$body` with `$p` bound to the concrete pool of `$pool`
/// (a [`Pool`] reference), once per driver.
#[macro_export]
macro_rules! with_db {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the concrete connection of a
/// [`Tx`] (`&mut Tx`), once per driver.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx.db() {
            $crate::audit::DbTx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::audit::DbTx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
