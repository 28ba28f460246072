//! Operations behind management commands: stream service health checks
//! and logging every device of an operator out.

use std::time::Duration;

use efir_store::{with_db, Actor, Store, StoreError};
use serde::Serialize;
use serde_json::json;

/// The result of checking one stream service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Service id.
    pub id: i64,
    /// Operator.
    pub client_id: i64,
    /// Service name.
    pub name: String,
    /// What was probed (`http://…` or `host:port`).
    pub target: String,
    /// `up` or `down`.
    pub health: String,
    /// Why it is down.
    pub error: String,
}

#[derive(Debug, sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    client_id: i64,
    name: String,
    url_mask: String,
    check_url: String,
    health: String,
}

/// What to probe for a service: its `check_url` when set (HTTP), else the
/// host and port of its URL mask (TCP).
pub fn probe_target(check_url: &str, url_mask: &str) -> Option<Target> {
    if !check_url.trim().is_empty() {
        return Some(Target::Http(check_url.trim().to_string()));
    }
    let (scheme, rest) = url_mask.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() || authority.contains('$') {
        return None;
    }
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        "rtsp" => 554,
        "rtmp" => 1935,
        _ => return None,
    };
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once("]:")
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
        None => authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
    };
    Some(Target::Tcp(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }))
}

/// A probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// GET this URL; 2xx or 3xx is up.
    Http(String),
    /// Connect to `host:port`.
    Tcp(String),
}

async fn probe(client: &reqwest::Client, target: &Target, timeout: Duration) -> Result<(), String> {
    match target {
        Target::Http(url) => {
            let res = client
                .get(url)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| format!("HTTP check failed: {e}"))?;
            let status = res.status();
            if status.is_success() || status.is_redirection() {
                Ok(())
            } else {
                Err(format!("HTTP check answered {status}"))
            }
        }
        Target::Tcp(addr) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to {addr} failed: {e}")),
                Err(_) => Err(format!("TCP connect to {addr} timed out")),
            }
        }
    }
}

/// Probes every enabled stream service (all operators, or one) and records
/// its health; a service whose URL cannot be probed stays `unknown`.
pub async fn check_stream_services(
    store: &Store,
    client_id: Option<i64>,
    timeout: Duration,
) -> Result<Vec<Health>, StoreError> {
    check(store, client_id, None, timeout).await
}

/// Probes one stream service (enabled or not) now and records its health;
/// `None` when there is no such service.
pub async fn check_stream_service(
    store: &Store,
    id: i64,
    timeout: Duration,
) -> Result<Option<Health>, StoreError> {
    Ok(check(store, None, Some(id), timeout).await?.pop())
}

async fn check(
    store: &Store,
    client_id: Option<i64>,
    service_id: Option<i64>,
    timeout: Duration,
) -> Result<Vec<Health>, StoreError> {
    let sql = "SELECT id, client_id, name, url_mask, check_url, health FROM stream_service \
               WHERE ($2 IS NOT NULL OR enabled) AND ($1 IS NULL OR client_id = $1) \
               AND ($2 IS NULL OR id = $2) ORDER BY id";
    let services: Vec<ServiceRow> = with_db!(store.pool(), p => sqlx::query_as(sql)
        .bind(client_id)
        .bind(service_id)
        .fetch_all(p)
        .await)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StoreError::Invalid(format!("cannot build HTTP client: {e}")))?;
    let checks = services.iter().map(|s| {
        let http = http.clone();
        async move {
            let target = probe_target(&s.check_url, &s.url_mask);
            let outcome = match &target {
                Some(t) => probe(&http, t, timeout).await,
                None => Err("no check_url and no host in the URL mask".to_string()),
            };
            (target, outcome)
        }
    });
    let outcomes = futures::future::join_all(checks).await;
    let now = efir_store::now();
    let mut report = Vec::with_capacity(services.len());
    for (s, (target, outcome)) in services.iter().zip(outcomes) {
        let (health, error) = match (&target, outcome) {
            (None, Err(e)) => ("unknown", e),
            (_, Ok(())) => ("up", String::new()),
            (_, Err(e)) => ("down", e),
        };
        if health != s.health {
            if health == "down" {
                tracing::warn!(service = s.id, name = %s.name, error = %error, "stream service is down");
            } else {
                tracing::info!(service = s.id, name = %s.name, health, "stream service health changed");
            }
        }
        metrics::gauge!("efir_stream_service_up", "service" => s.id.to_string())
            .set(if health == "up" { 1.0 } else { 0.0 });
        let sql =
            "UPDATE stream_service SET health = $1, health_error = $2, health_checked_at = $3 \
                   WHERE id = $4";
        with_db!(store.pool(), p => sqlx::query(sql)
            .bind(health)
            .bind(&error)
            .bind(now)
            .bind(s.id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        report.push(Health {
            id: s.id,
            client_id: s.client_id,
            name: s.name.clone(),
            target: match target {
                Some(Target::Http(u)) => u,
                Some(Target::Tcp(a)) => a,
                None => String::new(),
            },
            health: health.to_string(),
            error,
        });
    }
    Ok(report)
}

/// Ends every session of the operator's accounts (`delete-authkeys`);
/// returns how many were ended.
pub async fn delete_authkeys(
    store: &Store,
    client_id: i64,
    actor: Actor,
) -> Result<u64, StoreError> {
    store.client(client_id).await?;
    let mut tx = store.begin(actor).await?;
    let removed = tx
        .execute(
            "account_authkey",
            "DELETE FROM account_authkey WHERE account_id IN \
             (SELECT id FROM account WHERE client_id = $1)",
            &[efir_store::audit::Arg::I64(client_id)],
        )
        .await?;
    tx.audit(
        Some(client_id),
        "logout_all",
        "client",
        Some(client_id.to_string()),
        json!({ "sessions": removed }),
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_masks() {
        assert_eq!(
            probe_target("", "http://edge1.tv:8080/$cid/index.m3u8?token=$token"),
            Some(Target::Tcp("edge1.tv:8080".into()))
        );
        assert_eq!(
            probe_target("", "https://edge1.tv/$cid"),
            Some(Target::Tcp("edge1.tv:443".into()))
        );
        assert_eq!(
            probe_target("", "http://[2001:db8::1]:81/x"),
            Some(Target::Tcp("[2001:db8::1]:81".into()))
        );
        assert_eq!(
            probe_target(" http://edge/health ", "x"),
            Some(Target::Http("http://edge/health".into()))
        );
        assert_eq!(probe_target("", "$prefix/$cid"), None);
        assert_eq!(probe_target("", "udp://239.0.0.1:1234"), None);
    }
}

/// What `setup-initial-data` gives a sample operator: two categories, five
/// channels, a basic tariff that opens them and a live stream service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SampleContent {
    /// Category ids.
    pub categories: Vec<i64>,
    /// Channel ids.
    pub channels: Vec<i64>,
    /// The tariff's id.
    pub tariff: i64,
    /// The stream service's id.
    pub stream_service: i64,
}

/// Creates the sample content of operator `client_id` inside `tx`.
pub async fn create_sample_content(
    tx: &mut efir_store::Tx,
    client_id: i64,
) -> Result<SampleContent, StoreError> {
    let now = efir_store::now();
    let mut out = SampleContent::default();
    tx.mark_changed("channel");
    for (i, (name, ru)) in [("News", "Новости"), ("Sport", "Спорт")].iter().enumerate()
    {
        let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO category (client_id, name, name_lang1, sort, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(client_id).bind(*name).bind(*ru).bind(i as i64).bind(now)
            .fetch_one(c).await)?;
        out.categories.push(id);
    }
    let channels = [
        ("Sample News 24", 0usize),
        ("Sample World", 0),
        ("Sample Sport", 1),
        ("Sample Football", 1),
        ("Sample Tennis", 1),
    ];
    for (i, (name, cat)) in channels.iter().enumerate() {
        let id: i64 = efir_store::with_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO channel (client_id, name, category_id, sort, recording_days, \
             id_for_stream_service, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 7, $5, $6, $6) RETURNING id")
            .bind(client_id).bind(*name).bind(out.categories[*cat]).bind(i as i64)
            .bind(format!("sample{}", i + 1)).bind(now)
            .fetch_one(c).await)?;
        out.channels.push(id);
    }
    out.tariff = efir_store::with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO tariff (client_id, name, description, basic_tariff_priority, assigned_by_default, \
         created_at, updated_at) VALUES ($1, 'Basic', 'Every sample channel', 1, TRUE, $2, $2) RETURNING id")
        .bind(client_id).bind(now)
        .fetch_one(c).await)?;
    for ch in &out.channels {
        efir_store::with_tx!(tx, c => sqlx::query(
            "INSERT INTO tariff_channel (tariff_id, channel_id) VALUES ($1, $2)")
            .bind(out.tariff).bind(*ch)
            .execute(c).await.map(|r| r.rows_affected()))?;
    }
    out.stream_service = efir_store::with_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO stream_service (client_id, name, service_type, url_mask, created_at) \
         VALUES ($1, 'Sample live', 'live', 'http://127.0.0.1:8090/$cid/index.m3u8?token=$token', $2) RETURNING id")
        .bind(client_id).bind(now)
        .fetch_one(c).await)?;
    tx.audit(
        Some(client_id),
        "create_sample_content",
        "client",
        Some(client_id.to_string()),
        json!(out),
    )
    .await?;
    Ok(out)
}

/// Which content `clone-client` copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneWhat {
    /// Categories and channels.
    pub channels: bool,
    /// Videos with seasons, episodes and files.
    pub video: bool,
    /// Radio stations.
    pub radio: bool,
    /// Cameras.
    pub cameras: bool,
    /// Applications.
    pub apps: bool,
}

/// How many objects of each kind `clone-client` copied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cloned {
    /// Categories.
    pub categories: u64,
    /// Channels.
    pub channels: u64,
    /// Videos.
    pub videos: u64,
    /// Seasons.
    pub seasons: u64,
    /// Episodes.
    pub episodes: u64,
    /// Video files.
    pub files: u64,
    /// Radio stations.
    pub radio: u64,
    /// Cameras.
    pub cameras: u64,
    /// Applications.
    pub apps: u64,
}

const LANG_COLS: &str = "name_lang1, name_lang2, name_lang3, name_lang4, name_lang5";

/// Copies rows of `table` from operator `src` to `dst`, one by one so that
/// new ids can be mapped; `cols` are copied as they are, `remap` columns
/// are translated through the given maps (rows whose reference has no
/// mapping get NULL). Returns old id → new id.
async fn copy_rows(
    tx: &mut efir_store::Tx,
    table: &str,
    scope: &str,
    src: i64,
    dst: i64,
    cols: &str,
    remap: &[(&str, &std::collections::HashMap<i64, i64>)],
) -> Result<std::collections::HashMap<i64, i64>, StoreError> {
    let remap_cols: Vec<&str> = remap.iter().map(|(c, _)| *c).collect();
    let select = format!(
        "SELECT id{} FROM {table} t WHERE {scope} ORDER BY id",
        remap_cols
            .iter()
            .map(|c| format!(", {c}"))
            .collect::<String>()
    );
    let rows: Vec<Vec<Option<i64>>> = efir_store::with_tx!(tx, c => {
        use sqlx::Row;
        sqlx::query(&select).bind(src).fetch_all(c).await.map(|rows| {
            rows.iter()
                .map(|r| (0..=remap_cols.len()).map(|i| r.try_get::<Option<i64>, _>(i).unwrap_or(None)).collect())
                .collect()
        })
    })?;
    let mut map = std::collections::HashMap::new();
    for row in rows {
        let Some(old) = row[0] else { continue };
        let mut sets = Vec::new();
        for (i, (col, m)) in remap.iter().enumerate() {
            let new = row[i + 1].and_then(|o| m.get(&o).copied());
            sets.push((*col, new));
        }
        // $1 is the source row; then the new operator (tables that have
        // one), then the remapped references.
        let has_client = scope.starts_with("t.client_id");
        let mut values: Vec<Option<i64>> = Vec::new();
        let mut insert_cols = String::new();
        let mut select_vals = String::new();
        if has_client {
            values.push(Some(dst));
            insert_cols.push_str(", client_id");
            select_vals.push_str(", $2");
        }
        for (col, v) in &sets {
            values.push(*v);
            insert_cols.push_str(&format!(", {col}"));
            select_vals.push_str(&format!(", CAST(${} AS BIGINT)", values.len() + 1));
        }
        let sql = format!(
            "INSERT INTO {table} ({cols}{insert_cols}) \
             SELECT {cols}{select_vals} FROM {table} WHERE id = $1 RETURNING id"
        );
        let new: i64 = efir_store::with_tx!(tx, c => {
            let mut q = sqlx::query_scalar(&sql).bind(old);
            for v in &values {
                q = q.bind(*v);
            }
            q.fetch_one(c).await
        })?;
        map.insert(old, new);
    }
    Ok(map)
}

/// Copies the chosen content of operator `src` to operator `dst` inside
/// `tx` (links to tariffs are not copied: tariffs belong to the operator).
pub async fn clone_content(
    tx: &mut efir_store::Tx,
    src: i64,
    dst: i64,
    what: CloneWhat,
) -> Result<Cloned, StoreError> {
    let mut out = Cloned::default();
    tx.mark_changed("channel");
    let mut categories = std::collections::HashMap::new();
    if what.channels || what.cameras {
        categories = copy_rows(
            tx,
            "category",
            "t.client_id = $1",
            src,
            dst,
            &format!("name, {LANG_COLS}, description, color, icon_url, sort, created_at"),
            &[],
        )
        .await?;
        out.categories = categories.len() as u64;
    }
    if what.channels {
        let map = copy_rows(
            tx,
            "channel",
            "t.client_id = $1",
            src,
            dst,
            &format!(
                "name, {LANG_COLS}, epg_channel_id, enabled, parent_control, uri, url_prefix, \
              multicast_address, id_for_stream_service, recording_days, icon, sort, lcn_number, \
              aspect_ratio, show_in_all, option1, option2, option3, created_at, updated_at"
            ),
            &[("category_id", &categories)],
        )
        .await?;
        out.channels = map.len() as u64;
    }
    if what.radio {
        out.radio = copy_rows(
            tx,
            "radio",
            "t.client_id = $1",
            src,
            dst,
            &format!("name, {LANG_COLS}, url, logo_url, description, enabled, sort, created_at"),
            &[],
        )
        .await?
        .len() as u64;
    }
    if what.cameras {
        out.cameras = copy_rows(tx, "camera", "t.client_id = $1", src, dst,
            &format!("name, {LANG_COLS}, city_id, url, icon, preview_url, recording_days, enabled, sort, created_at"),
            &[("category_id", &categories)]).await?.len() as u64;
    }
    if what.apps {
        out.apps = copy_rows(tx, "application", "t.client_id = $1", src, dst,
            &format!("name, {LANG_COLS}, system_name, app_type, url, show_in_main_menu, css_style, icon, \
              icon_focus, attrs, enabled, sort, created_at"), &[]).await?.len() as u64;
    }
    if what.video {
        let videos = copy_rows(tx, "video", "t.client_id = $1", src, dst,
            &format!("ext_id, name, {LANG_COLS}, name_orig, description, description_lang1, description_lang2, \
              description_lang3, description_lang4, description_lang5, short_description, year, countries, \
              director, thumbnail_small, thumbnail_big, horizontal_poster, rating, kinopoisk_id, \
              kinopoisk_rating, imdb_rating, duration, is_season, is_4k, enabled, created_at, updated_at"),
            &[]).await?;
        out.videos = videos.len() as u64;
        let seasons = copy_rows(
            tx,
            "season",
            "t.video_id IN (SELECT id FROM video WHERE client_id = $1)",
            src,
            dst,
            "name, number",
            &[("video_id", &videos)],
        )
        .await?;
        out.seasons = seasons.len() as u64;
        let episodes = copy_rows(tx, "episode",
            "t.season_id IN (SELECT s.id FROM season s JOIN video v ON v.id = s.video_id WHERE v.client_id = $1)",
            src, dst, "name, number, duration, preview_url, is_free", &[("season_id", &seasons)]).await?;
        out.episodes = episodes.len() as u64;
        out.files = copy_rows(
            tx,
            "video_file",
            "t.video_id IN (SELECT id FROM video WHERE client_id = $1)",
            src,
            dst,
            "ext_id, name, filename, duration, quality, is_trailer",
            &[("video_id", &videos), ("episode_id", &episodes)],
        )
        .await?
        .len() as u64;
    }
    tx.audit(
        Some(dst),
        "clone_content",
        "client",
        Some(dst.to_string()),
        json!({ "source_client_id": src, "copied": out }),
    )
    .await?;
    Ok(out)
}

/// Makes every node rebuild its cached channel lists (`cache-channel-list`,
/// kept for crontabs written for Smarty, where it was mandatory; Efir
/// rebuilds lists on demand): bumps the content generation of one operator
/// or of all. Returns the operators touched.
pub async fn refresh_channel_lists(
    store: &Store,
    client_id: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = match client_id {
        Some(id) => vec![store.client(id).await?.id],
        None => store.clients().await?.iter().map(|c| c.id).collect(),
    };
    for id in &ids {
        store
            .bump_counter(&crate::cache::generation_key(*id))
            .await?;
    }
    Ok(ids)
}

/// One range of the geolocation table, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoRange {
    /// First address (16-byte key).
    pub from: [u8; 16],
    /// Last address (16-byte key).
    pub to: [u8; 16],
    /// ISO 3166 two-letter country code, upper case.
    pub country: String,
    /// City name (may be empty).
    pub city: String,
}

/// Parses a geolocation CSV: each line `FIRST,LAST,CC[,City]` (addresses)
/// or `NETWORK/PREFIX,CC[,City]`, IPv4 or IPv6; `#` comments and blank
/// lines are skipped. Every bad line is reported with its number.
pub fn parse_geo_csv(text: &str) -> Result<Vec<GeoRange>, Vec<String>> {
    use std::net::IpAddr;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let n = i + 1;
        let parsed = if fields[0].contains('/') {
            match fields[0].parse::<efir_core::net::Cidr>() {
                Ok(net) => {
                    let from = efir_core::net::ip_key(net.addr());
                    let bits = match net.addr() {
                        IpAddr::V4(_) => 96 + u32::from(net.prefix()),
                        IpAddr::V6(_) => u32::from(net.prefix()),
                    };
                    let host_bits = 128 - bits;
                    let mask = if host_bits == 128 {
                        u128::MAX
                    } else {
                        (1u128 << host_bits) - 1
                    };
                    let to = (u128::from_be_bytes(from) | mask).to_be_bytes();
                    Ok((from, to, &fields[1..]))
                }
                Err(e) => Err(e.to_string()),
            }
        } else if fields.len() >= 3 {
            match (fields[0].parse::<IpAddr>(), fields[1].parse::<IpAddr>()) {
                (Ok(a), Ok(b)) if a.is_ipv4() == b.is_ipv4() => {
                    let (from, to) = (efir_core::net::ip_key(a), efir_core::net::ip_key(b));
                    if from <= to {
                        Ok((from, to, &fields[2..]))
                    } else {
                        Err("the first address is after the last".to_string())
                    }
                }
                _ => Err("expected FIRST,LAST,CC[,City] or NETWORK/PREFIX,CC[,City]".to_string()),
            }
        } else {
            Err("expected FIRST,LAST,CC[,City] or NETWORK/PREFIX,CC[,City]".to_string())
        };
        match parsed {
            Ok((from, to, rest)) => {
                let country = rest.first().copied().unwrap_or("").to_ascii_uppercase();
                if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
                    errors.push(format!(
                        "line {n}: `{country}` is not a two-letter country code"
                    ));
                    continue;
                }
                let city = rest
                    .get(1)
                    .copied()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                out.push(GeoRange {
                    from,
                    to,
                    country,
                    city,
                });
            }
            Err(e) => errors.push(format!("line {n}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What a geolocation import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GeoImport {
    /// Ranges now in the table.
    pub ranges: u64,
    /// Countries created.
    pub new_countries: u64,
    /// Cities created.
    pub new_cities: u64,
}

/// Replaces the geolocation table with `ranges` in one transaction
/// (countries and cities are created as needed); `progress` is called
/// after each range.
pub async fn import_geo(
    store: &Store,
    ranges: &[GeoRange],
    actor: Actor,
    progress: impl Fn(u64),
) -> Result<GeoImport, StoreError> {
    use std::collections::HashMap;
    let mut tx = store.begin(actor).await?;
    let mut report = GeoImport::default();
    tx.execute("geo_ip_range", "DELETE FROM geo_ip_range", &[])
        .await?;
    let mut countries: HashMap<String, i64> = HashMap::new();
    let mut cities: HashMap<(i64, String), i64> = HashMap::new();
    for (i, r) in ranges.iter().enumerate() {
        let country = match countries.get(&r.country) {
            Some(id) => *id,
            None => {
                let found: Option<i64> = efir_store::with_tx!(tx, c => sqlx::query_scalar(
                    "SELECT id FROM country WHERE code = $1").bind(&r.country).fetch_optional(c).await)?;
                let id = match found {
                    Some(id) => id,
                    None => {
                        report.new_countries += 1;
                        efir_store::with_tx!(tx, c => sqlx::query_scalar(
                            "INSERT INTO country (code, name) VALUES ($1, $1) RETURNING id")
                            .bind(&r.country).fetch_one(c).await)?
                    }
                };
                countries.insert(r.country.clone(), id);
                id
            }
        };
        let city = if r.city.is_empty() {
            None
        } else if let Some(id) = cities.get(&(country, r.city.clone())) {
            Some(*id)
        } else {
            let found: Option<i64> = efir_store::with_tx!(tx, c => sqlx::query_scalar(
                "SELECT id FROM city WHERE country_id = $1 AND name = $2")
                .bind(country).bind(&r.city).fetch_optional(c).await)?;
            let id = match found {
                Some(id) => id,
                None => {
                    report.new_cities += 1;
                    efir_store::with_tx!(tx, c => sqlx::query_scalar(
                        "INSERT INTO city (country_id, name) VALUES ($1, $2) RETURNING id")
                        .bind(country).bind(&r.city).fetch_one(c).await)?
                }
            };
            cities.insert((country, r.city.clone()), id);
            Some(id)
        };
        efir_store::with_tx!(tx, c => sqlx::query(
            "INSERT INTO geo_ip_range (ip_from, ip_to, country_id, city_id) VALUES ($1, $2, $3, $4)")
            .bind(r.from.to_vec()).bind(r.to.to_vec()).bind(country).bind(city)
            .execute(c).await.map(|r| r.rows_affected()))?;
        report.ranges += 1;
        progress(i as u64 + 1);
    }
    tx.audit(None, "import", "geo_ip_range", None, json!(report))
        .await?;
    tx.commit().await?;
    Ok(report)
}
