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

/// Binds every [`Arg`](crate::audit::Arg) of `$args` (a slice or a `Vec`)
/// to `$query`, any sqlx query (`query`, `query_as`, `query_scalar`), in
/// order: the one place that maps Efir's query arguments to sqlx binds.
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args.iter() {
            q = match a {
                $crate::audit::Arg::I64(v) => q.bind(*v),
                $crate::audit::Arg::OptI64(v) => q.bind(*v),
                $crate::audit::Arg::Text(v) => q.bind(v.clone()),
                $crate::audit::Arg::OptText(v) => q.bind(v.clone()),
                $crate::audit::Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Runs a read-only query on [`Store::reader`](crate::Store::reader)'s
/// pick (a healthy read replica, else the primary), with `$p` bound to the
/// concrete pool as in [`with_db!`]; when it fails on a replica, it runs
/// again on the primary (see [`crate::replicas`]). `$body` is evaluated
/// for each attempt. Only for reads that may be a little stale.
#[macro_export]
macro_rules! read_db {
    ($store:expr, $p:ident => $body:expr) => {
        $crate::read_on!($store, $store.reader(), $p => $body)
    };
}

/// [`read_db!`] on a given [`Reader`](crate::replicas::Reader) of `$store`.
#[macro_export]
macro_rules! read_on {
    ($store:expr, $reader:expr, $p:ident => $body:expr) => {{
        let reader: $crate::replicas::Reader = $reader;
        let first = $crate::with_db!(reader.pool(), $p => $body);
        match first {
            Err(e) if reader.is_replica() => {
                reader.failed(&e);
                $crate::replicas::count_read("primary");
                $crate::with_db!($store.pool(), $p => $body)
            }
            other => {
                reader.done();
                other
            }
        }
    }};
}
