//! Stream URLs: `channel/url/`, `program/url/` by programme, and `streamservice/token/check/` for
//! streaming servers (Flussonic, Astra) that ask whether a token is good.
//!
//! A channel with a direct `uri` is played from it. Otherwise a stream
//! service is picked dynamically: of the operator's `live` services, those
//! enabled, not marked down by health checks, not in a maintenance window,
//! open to one of the account's tariffs (a service linked to no tariff is
//! open to all) and not excluded by the app (`exclude_service_id`,
//! repeatable, after a failure); the account's data center first, then the
//! least loaded by `load / weight`. The URL comes from the service's mask:
//! `$prefix` (the channel's URL prefix), `$cid` (its id for the stream
//! service, else its id), `$token` (a signed token the streaming server
//! checks through `streamservice/token/check/`), `$flpbt` and `$flpdur`
//! (catch-up start and duration). With a `secure_link_secret`, the URL also
//! carries nginx `secure_link` parameters `md5` and `expires`. With
//! `redirect=1` (the default) the answer is a 302 to the stream.

use std::net::IpAddr;

use base64::Engine as _;
use efir_store::with_db;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::login::account_active;
use super::{Call, DeviceError, Reply, ERR_BAD_REQUEST};
use crate::access;
use crate::Middleware;

/// `error` when no stream service can serve the content.
pub const ERR_NO_SERVICE: i64 = 10;
/// `error` when the content is not open to the account.
pub const ERR_NO_ACCESS: i64 = 11;

/// A stream service as routing needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Service {
    /// Id.
    pub id: i64,
    /// The URL mask.
    pub url_mask: String,
    /// nginx secure_link secret (empty: no secure link).
    pub secure_link_secret: String,
    /// nginx secure_link expression.
    pub secure_link_expression: String,
    /// Lifetime of links and tokens, in seconds.
    pub secure_link_ttl: i64,
    /// Data center.
    pub data_center_id: Option<i64>,
    /// Relative capacity.
    pub weight: i64,
    /// Current load.
    pub load: i64,
}

/// Picks the service for `kind` (`live`, `pvr`, `vod`) among `candidates`
/// (already filtered for availability): the preferred data center first,
/// then the lowest `load / weight`, then the lowest id.
pub fn choose(candidates: &[Service], data_center: Option<i64>) -> Option<&Service> {
    candidates.iter().min_by(|a, b| {
        let in_dc = |s: &Service| data_center.is_some() && s.data_center_id == data_center;
        in_dc(b)
            .cmp(&in_dc(a))
            .then_with(|| {
                // load_a / weight_a vs load_b / weight_b without division.
                let (wa, wb) = (a.weight.max(1) as i128, b.weight.max(1) as i128);
                (i128::from(a.load) * wb).cmp(&(i128::from(b.load) * wa))
            })
            .then_with(|| a.id.cmp(&b.id))
    })
}

pub use efir_core::secret::secure_link_md5;

type HmacSha256 = Hmac<Sha256>;

fn token_signature(secret: &str, payload: &str) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(payload.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// A token for `$token`: who may play what, from where, until when,
/// signed with the service's secret.
pub fn make_token(
    service_id: i64,
    secret: &str,
    expires: i64,
    account_id: i64,
    content: &str,
    ip: IpAddr,
) -> String {
    let payload = format!("v1:{service_id}:{expires}:{account_id}:{content}:{ip}");
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.as_bytes());
    format!("{encoded}.{}", token_signature(secret, &payload))
}

/// The parts of a token whose signature is good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Service id.
    pub service_id: i64,
    /// Expiry (Unix seconds).
    pub expires: i64,
    /// Account id.
    pub account_id: i64,
    /// Content name (stream id).
    pub content: String,
    /// The address it was issued to.
    pub ip: String,
}

/// Decodes a token without checking its signature.
pub fn decode_token(token: &str) -> Option<(TokenClaims, String, String)> {
    let (encoded, signature) = token.split_once('.')?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    let mut parts = payload.splitn(6, ':');
    if parts.next()? != "v1" {
        return None;
    }
    let claims = TokenClaims {
        service_id: parts.next()?.parse().ok()?,
        expires: parts.next()?.parse().ok()?,
        account_id: parts.next()?.parse().ok()?,
        content: parts.next()?.to_string(),
        ip: parts.next()?.to_string(),
    };
    Some((claims, payload, signature.to_string()))
}

#[derive(Debug, sqlx::FromRow)]
struct ChannelRoute {
    id: i64,
    uri: String,
    url_prefix: String,
    id_for_stream_service: String,
}

/// `channel/url/`.
pub async fn channel_url(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    let session = call.session(mw).await?;
    let cid: i64 = call
        .params
        .get("cid")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| DeviceError::new(ERR_BAD_REQUEST, "cid must be a channel id"))?;
    let excluded = excluded_services(call)?;
    let redirect = call.params.get("redirect").map(str::trim) != Some("0");

    let (active, _, customer_id) = account_active(mw, session.account_id).await?;
    let tariffs = access::customer_tariffs(&mw.store, customer_id).await?;
    let place = access::locate(&mw.store, call.ip).await?;
    let tariff_ids = access::applicable(&mw.store, &tariffs, active, place).await?;
    if tariff_ids.is_empty() {
        return Err(DeviceError::new(
            ERR_NO_ACCESS,
            "the channel is not in your tariffs",
        ));
    }
    let sql = format!(
        "SELECT c.id, c.uri, c.url_prefix, c.id_for_stream_service FROM channel c \
         WHERE c.id = $1 AND c.client_id = $2 AND c.enabled AND EXISTS ( \
         SELECT 1 FROM tariff_channel tc WHERE tc.channel_id = c.id AND tc.tariff_id IN ({}))",
        access::placeholders(3, tariff_ids.len())
    );
    let channel: Option<ChannelRoute> = efir_store::read_db!(mw.store, p => {
        let mut q = sqlx::query_as(&sql).bind(cid).bind(call.client.id);
        for id in &tariff_ids {
            q = q.bind(*id);
        }
        q.fetch_optional(p).await
    })?;
    let channel = channel
        .ok_or_else(|| DeviceError::new(ERR_NO_ACCESS, "the channel is not in your tariffs"))?;

    if !channel.uri.is_empty() {
        return Ok(url_reply(&channel.uri, 0, redirect));
    }

    let dc = account_data_center(mw, session.account_id).await?;
    let service = pick_service(mw, call, "live", &tariff_ids, &excluded, dc).await?;
    let content = if channel.id_for_stream_service.is_empty() {
        channel.id.to_string()
    } else {
        channel.id_for_stream_service.clone()
    };
    let url = build_url(
        &service,
        &StreamVars {
            prefix: &channel.url_prefix,
            content: &content,
            start: None,
            duration: None,
        },
        session.account_id,
        call.ip,
    );
    Ok(url_reply(&url, service.id, redirect))
}

/// Longest catch-up asked for through `pid`, in seconds (as `duration`).
const MAX_PROGRAMME_DURATION: i64 = 86_400;

/// `program/url/`: catch-up by `cid` and `time` (see the catalog), or by
/// `pid`, a programme of the guide. With `pid`, the programme's channel
/// (`cid` when sent and showing it, else the first channel the account
/// may open that shows its EPG channel) and real start stand for `cid`
/// and `time`, and its length for `duration` unless one is sent; then it
/// goes on exactly as with `time`. An unknown programme is a 404; one no
/// open channel shows is error 11, as `channel/url/` refuses.
pub(crate) async fn program_url(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    let Some(raw) = call
        .params
        .get("pid")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return by_time(mw, call).await;
    };
    let pid: i64 = raw
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| DeviceError::new(ERR_BAD_REQUEST, "pid must be a programme id"))?;
    let session = call.session(mw).await?;
    let tariffs = super::channels::tariff_ids(mw, call, session.account_id).await?;
    let (programme, channel) = super::epg::programme_channel(mw, call, &tariffs, pid).await?;
    let mut params: Vec<(String, String)> = call
        .params
        .0
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cid" | "time" | "pid"))
        .cloned()
        .collect();
    params.push(("cid".into(), channel.id.to_string()));
    params.push(("time".into(), programme.start_at.to_string()));
    if call
        .params
        .get("duration")
        .is_none_or(|d| d.trim().is_empty())
    {
        let length = (programme.stop_at - programme.start_at).clamp(1, MAX_PROGRAMME_DURATION);
        params.retain(|(k, _)| k != "duration");
        params.push(("duration".into(), length.to_string()));
    }
    let by_programme = Call {
        client: call.client.clone(),
        params: crate::api::Params(params),
        ip: call.ip,
        cookies: call.cookies.clone(),
        lang: call.lang,
        xml: call.xml,
    };
    by_time(mw, &by_programme).await
}

/// `program/url/` by `cid` and `time`.
async fn by_time(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    super::catalog::dispatch(mw, call, "program/url")
        .await
        .unwrap_or_else(|| {
            Err(DeviceError::new(
                super::ERR_NOT_FOUND,
                "unknown method `program/url`",
            ))
        })
}

/// The `exclude_service_id` values of a call (repeatable).
pub fn excluded_services(call: &Call) -> Result<Vec<i64>, DeviceError> {
    call.params
        .all("exclude_service_id")
        .into_iter()
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                DeviceError::new(ERR_BAD_REQUEST, "exclude_service_id must be service ids")
            })
        })
        .collect()
}

/// The account's data center, preferred when picking a service.
pub async fn account_data_center(
    mw: &Middleware,
    account_id: i64,
) -> Result<Option<i64>, DeviceError> {
    Ok(with_db!(mw.store.pool(), p => sqlx::query_scalar(
        "SELECT data_center_id FROM account WHERE id = $1")
        .bind(account_id)
        .fetch_one(p)
        .await)?)
}

/// Picks the stream service of `kind` (`live`, `pvr`, `vod`) for a call:
/// enabled, not down, not in maintenance, open to one of `tariff_ids` (or
/// to all), not `excluded`; then [`choose`].
pub async fn pick_service(
    mw: &Middleware,
    call: &Call,
    kind: &str,
    tariff_ids: &[i64],
    excluded: &[i64],
    data_center: Option<i64>,
) -> Result<Service, DeviceError> {
    let now = efir_store::now();
    let sql = format!(
        "SELECT s.id, s.url_mask, s.secure_link_secret, s.secure_link_expression, s.secure_link_ttl, \
         s.data_center_id, s.weight, s.load FROM stream_service s \
         WHERE s.client_id = $1 AND s.service_type = $2 AND s.enabled AND s.health <> 'down' \
         AND NOT EXISTS (SELECT 1 FROM maintenance m WHERE m.stream_service_id = s.id \
             AND m.starts_at <= $3 AND m.ends_at > $3) \
         AND (NOT EXISTS (SELECT 1 FROM tariff_stream_service ts WHERE ts.stream_service_id = s.id) \
             OR EXISTS (SELECT 1 FROM tariff_stream_service ts WHERE ts.stream_service_id = s.id \
                 AND ts.tariff_id IN ({})))",
        if tariff_ids.is_empty() {
            "NULL".to_string()
        } else {
            access::placeholders(4, tariff_ids.len())
        }
    );
    let services: Vec<Service> = with_db!(mw.store.pool(), p => {
        let mut q = sqlx::query_as(&sql).bind(call.client.id).bind(kind).bind(now);
        for id in tariff_ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    let candidates: Vec<Service> = services
        .into_iter()
        .filter(|s| !excluded.contains(&s.id))
        .collect();
    choose(&candidates, data_center)
        .cloned()
        .ok_or_else(|| DeviceError::new(ERR_NO_SERVICE, "no stream service is available"))
}

/// What fills a URL mask.
#[derive(Debug, Clone, Copy)]
pub struct StreamVars<'a> {
    /// `$prefix`: the content's URL prefix.
    pub prefix: &'a str,
    /// `$cid`: the content's id for the stream service.
    pub content: &'a str,
    /// `$flpbt`: catch-up start (Unix seconds).
    pub start: Option<i64>,
    /// `$flpdur`: catch-up duration (seconds).
    pub duration: Option<i64>,
}

/// The stream URL of `service` for `vars`, with a signed `$token` and,
/// when the service has a secret, nginx `secure_link` parameters bound to
/// the subscriber's address.
pub fn build_url(service: &Service, vars: &StreamVars<'_>, account_id: i64, ip: IpAddr) -> String {
    let expires = efir_store::now() + service.secure_link_ttl.max(1);
    let token = make_token(
        service.id,
        &service.secure_link_secret,
        expires,
        account_id,
        vars.content,
        ip,
    );
    let mut url = service
        .url_mask
        .replace("$prefix", vars.prefix)
        .replace("$cid", vars.content)
        .replace("$token", &token)
        .replace(
            "$flpbt",
            &vars.start.map(|t| t.to_string()).unwrap_or_default(),
        )
        .replace(
            "$flpdur",
            &vars.duration.map(|t| t.to_string()).unwrap_or_default(),
        );
    if !service.secure_link_secret.is_empty() {
        let md5 = secure_link_md5(
            &service.secure_link_expression,
            expires,
            &url_path(&url),
            &ip.to_string(),
            &service.secure_link_secret,
        );
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("md5={md5}&expires={expires}"));
    }
    url
}

/// The path of an absolute URL (what nginx calls `$uri`).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or("/").to_string()
}

/// The answer of a `*/url/` method: the URL, or a 302 to it.
pub fn url_reply(url: &str, service_id: i64, redirect: bool) -> Reply {
    let body = json!({
        "uri": url,
        "stream_service_id": service_id,
        "archive_preview_url_mask": "",
        "lock_banner": "",
        "audio_tracks": [],
        "subtitle_tracks": [],
        "video_qualities": [],
    });
    Reply {
        body,
        cookies: Vec::new(),
        redirect: redirect.then(|| url.to_string()),
        raw_json: None,
    }
}

/// `streamservice/token/check/`: `token`, `name` (the stream), `ip`.
/// `error` 0 good, 1 expired (or forged), 2 another stream, 3 another
/// address.
pub async fn token_check(mw: &Middleware, call: &Call) -> Result<Value, DeviceError> {
    let token = call.params.get("token").unwrap_or("");
    let bad = || DeviceError::new(1, "token is not valid");
    let (claims, payload, signature) = decode_token(token).ok_or_else(bad)?;
    let secret: Option<String> = with_db!(mw.store.pool(), p => sqlx::query_scalar(
        "SELECT secure_link_secret FROM stream_service WHERE id = $1 AND client_id = $2")
        .bind(claims.service_id)
        .bind(call.client.id)
        .fetch_optional(p)
        .await)?;
    let secret = secret.ok_or_else(bad)?;
    let expected = token_signature(&secret, &payload);
    if !efir_core::secret::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(bad());
    }
    if claims.expires <= efir_store::now() {
        return Err(DeviceError::new(1, "token has expired"));
    }
    if let Some(name) = call.params.get("name").filter(|n| !n.is_empty()) {
        // Streaming servers send the stream name, possibly with a path.
        let stream = name.trim_matches('/').split('/').next().unwrap_or(name);
        if stream != claims.content {
            return Err(DeviceError::new(2, "token is for another stream"));
        }
    }
    if let Some(ip) = call.params.get("ip").filter(|i| !i.is_empty()) {
        if ip.trim() != claims.ip {
            return Err(DeviceError::new(3, "token is for another address"));
        }
    }
    Ok(json!({ "account_id": claims.account_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: i64, dc: Option<i64>, weight: i64, load: i64) -> Service {
        Service {
            id,
            url_mask: String::new(),
            secure_link_secret: String::new(),
            secure_link_expression: String::new(),
            secure_link_ttl: 60,
            data_center_id: dc,
            weight,
            load,
        }
    }

    #[test]
    fn data_center_then_load_per_weight() {
        let list = vec![
            service(1, None, 1, 10),
            service(2, Some(7), 1, 50),
            service(3, None, 4, 20),
        ];
        assert_eq!(choose(&list, Some(7)).unwrap().id, 2);
        // 20/4 = 5 beats 10/1.
        assert_eq!(choose(&list, None).unwrap().id, 3);
        assert_eq!(choose(&list, Some(99)).unwrap().id, 3);
        assert!(choose(&[], None).is_none());
    }

    #[test]
    fn secure_link_matches_nginx() {
        // echo -n '2147483647/s/link127.0.0.1 secret' | openssl md5 -binary | base64 | tr +/ -_ | tr -d =
        let h = secure_link_md5(
            "$secure_link_expires$uri$remote_addr $secret",
            2147483647,
            "/s/link",
            "127.0.0.1",
            "secret",
        );
        assert_eq!(h, "_e4Nc3iduzkWRm01TBBNYw");
        assert_eq!(
            url_path("http://edge:8080/live/5/index.m3u8?x=1"),
            "/live/5/index.m3u8"
        );
    }

    #[test]
    fn tokens_round_trip_and_detect_forgery() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = make_token(3, "s3cret", 2_000_000_000, 42, "ch7", ip);
        let (claims, payload, sig) = decode_token(&t).unwrap();
        assert_eq!(claims.account_id, 42);
        assert_eq!(claims.content, "ch7");
        assert_eq!(claims.ip, "192.0.2.1");
        assert_eq!(token_signature("s3cret", &payload), sig);
        assert_ne!(token_signature("other", &payload), sig);
        assert!(decode_token("garbage").is_none());
        assert!(decode_token("Zm9v.abc").is_none());
    }
}
