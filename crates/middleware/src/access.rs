//! What an account may watch: the customer's tariffs that apply to it now,
//! given its active state and where the request comes from.
//!
//! * A tariff applies only if the customer has it.
//! * An inactive account (a debtor, a blocked account) keeps only tariffs
//!   marked `available_for_inactive_accounts` (the free package).
//! * A tariff that is not `available_everywhere` applies only when the
//!   client IP resolves (geolocation table) to one of its countries or
//!   cities.

use std::net::IpAddr;

use efir_store::{with_db, Store};

use crate::api::ApiError;

/// A tariff row as access rules need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TariffRule {
    /// Tariff id.
    pub id: i64,
    /// 0 additional, 1..10 basic.
    pub basic_tariff_priority: i64,
    /// Kept by inactive accounts.
    pub available_for_inactive_accounts: bool,
    /// No geographic restriction.
    pub available_everywhere: bool,
    /// Concurrent sessions it allows.
    pub sessions_count: i64,
}

/// Where an IP address is, by the geolocation table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    /// Country id.
    pub country_id: Option<i64>,
    /// City id.
    pub city_id: Option<i64>,
}

/// Looks `ip` up in `geo_ip_range`.
pub async fn locate(store: &Store, ip: IpAddr) -> Result<Place, ApiError> {
    let key = efir_core::net::ip_key(ip).to_vec();
    let sql = "SELECT ip_to, country_id, city_id FROM geo_ip_range WHERE ip_from <= $1 \
               ORDER BY ip_from DESC LIMIT 1";
    let row: Option<(Vec<u8>, Option<i64>, Option<i64>)> =
        with_db!(store.pool(), p => sqlx::query_as(sql).bind(&key).fetch_optional(p).await)?;
    Ok(match row {
        Some((to, country_id, city_id)) if to.as_slice() >= key.as_slice() => Place {
            country_id,
            city_id,
        },
        _ => Place::default(),
    })
}

/// The customer's tariffs.
pub async fn customer_tariffs(
    store: &Store,
    customer_id: i64,
) -> Result<Vec<TariffRule>, ApiError> {
    let sql = "SELECT t.id, t.basic_tariff_priority, t.available_for_inactive_accounts, \
               t.available_everywhere, t.sessions_count \
               FROM tariff t JOIN customer_tariff ct ON ct.tariff_id = t.id \
               WHERE ct.customer_id = $1 AND NOT t.archived ORDER BY t.id";
    Ok(with_db!(store.pool(), p => sqlx::query_as(sql).bind(customer_id).fetch_all(p).await)?)
}

/// The ids of `tariffs` that apply for an account that is `active` or not,
/// at `place`.
pub async fn applicable(
    store: &Store,
    tariffs: &[TariffRule],
    active: bool,
    place: Place,
) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::new();
    for t in tariffs {
        if !active && !t.available_for_inactive_accounts {
            continue;
        }
        if !t.available_everywhere && !allowed_at(store, t.id, place).await? {
            continue;
        }
        ids.push(t.id);
    }
    Ok(ids)
}

async fn allowed_at(store: &Store, tariff_id: i64, place: Place) -> Result<bool, ApiError> {
    if place.country_id.is_none() && place.city_id.is_none() {
        return Ok(false);
    }
    let sql = "SELECT COUNT(*) FROM tariff t WHERE t.id = $1 AND ( \
               EXISTS (SELECT 1 FROM tariff_country tc WHERE tc.tariff_id = t.id AND tc.country_id = $2) \
               OR EXISTS (SELECT 1 FROM tariff_city tc WHERE tc.tariff_id = t.id AND tc.city_id = $3))";
    let n: i64 = with_db!(store.pool(), p => sqlx::query_scalar(sql)
        .bind(tariff_id)
        .bind(place.country_id.unwrap_or(-1))
        .bind(place.city_id.unwrap_or(-1))
        .fetch_one(p)
        .await)?;
    Ok(n > 0)
}

/// `$first, $first+1, …` placeholders for an `IN (…)` list of `n` values.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
