//! `video/url/` (VOD through a `vod` stream service) and `program/url/`
//! (catch-up through a `pvr` stream service).
//!
//! Both pick a service the way `channel/url/` does (data center, load,
//! maintenance, health, `exclude_service_id`) and answer with a 302 to
//! the stream unless `redirect=0`.

use serde_json::json;

use super::video::check_video_open;
use super::{number, open_tariffs, required_id};
use crate::device::urls::{
    account_data_center, build_url, excluded_services, pick_service, url_reply, StreamVars,
    ERR_NO_ACCESS,
};
use crate::device::{Call, DeviceError, Reply, ERR_BAD_REQUEST, ERR_NOT_FOUND};
use crate::Middleware;

/// Default catch-up duration, in seconds.
const DEFAULT_DURATION: i64 = 3 * 3600;
/// Longest catch-up duration asked for, in seconds.
const MAX_DURATION: i64 = 24 * 3600;
/// Seconds in a day of `recording_days`.
const DAY: i64 = 86_400;

fn wants_redirect(call: &Call) -> bool {
    call.params.get("redirect").map(str::trim) != Some("0")
}

#[derive(Debug, sqlx::FromRow)]
struct FileRoute {
    id: i64,
    filename: String,
    ext_id: String,
}

/// `video/url/` (`vid`, `vfid`): the stream of one of the video's files
/// (its first film file without `vfid`); `$cid` is the file's `filename`.
pub(super) async fn video_url(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    let (session, tariffs) = open_tariffs(mw, call).await?;
    let vid = required_id(call, "vid")?;
    let vfid = number(call, "vfid", 1, i64::MAX)?;
    let excluded = excluded_services(call)?;
    let redirect = wants_redirect(call);
    check_video_open(mw, call, vid, &tariffs).await?;

    let files: Vec<FileRoute> = match vfid {
        Some(f) => fetch_rows!(
            mw,
            "SELECT id, filename, ext_id FROM video_file WHERE id = $1 AND video_id = $2",
            &[f, vid]
        )?,
        None => fetch_rows!(
            mw,
            "SELECT id, filename, ext_id FROM video_file WHERE video_id = $1 \
             AND episode_id IS NULL AND NOT is_trailer ORDER BY id LIMIT 1",
            &[vid]
        )?,
    };
    let file = files
        .first()
        .ok_or_else(|| DeviceError::new(ERR_NOT_FOUND, "no such file of the video"))?;

    let dc = account_data_center(mw, session.account_id).await?;
    let service = pick_service(mw, call, "vod", &tariffs, &excluded, dc).await?;
    let url = build_url(
        &service,
        &StreamVars {
            prefix: "",
            content: &file.filename,
            start: None,
            duration: None,
        },
        session.account_id,
        call.ip,
    );
    let mut reply = url_reply(&url, service.id, redirect);
    if let serde_json::Value::Object(map) = &mut reply.body {
        map.insert("file_id".into(), json!(file.id));
        map.insert("ext_id".into(), json!(file.ext_id));
        map.insert("ext_partner_id".into(), json!(""));
        map.insert("ext_auth_token".into(), json!(""));
        map.insert("ext_apikey".into(), json!(""));
        map.insert("skip_video_fragments".into(), json!([]));
    }
    Ok(reply)
}

#[derive(Debug, sqlx::FromRow)]
struct ArchiveRoute {
    id: i64,
    url_prefix: String,
    id_for_stream_service: String,
    recording_days: i64,
}

/// Whether a catch-up from `start` is within `recording_days` before
/// `now`: `Ok`, a 400 for a start in the future, error 11 for one older
/// than the archive (or a channel without one).
fn check_archive_window(start: i64, now: i64, recording_days: i64) -> Result<(), DeviceError> {
    if start > now {
        return Err(DeviceError::new(ERR_BAD_REQUEST, "time is in the future"));
    }
    if recording_days <= 0 {
        return Err(DeviceError::new(
            ERR_NO_ACCESS,
            "the channel has no archive",
        ));
    }
    if start < now.saturating_sub(recording_days.saturating_mul(DAY)) {
        return Err(DeviceError::new(
            ERR_NO_ACCESS,
            "the time is outside the archive",
        ));
    }
    Ok(())
}

/// `program/url/` (`cid`, `time` start in Unix seconds, `duration` in
/// seconds, default 3 hours): the catch-up stream of an open channel
/// from `time`, within its `recording_days`.
pub(super) async fn program_url(mw: &Middleware, call: &Call) -> Result<Reply, DeviceError> {
    let (session, tariffs) = open_tariffs(mw, call).await?;
    if call.params.get("is_camera").map(str::trim) == Some("1") {
        return Err(DeviceError::new(
            ERR_BAD_REQUEST,
            "camera archives are not available",
        ));
    }
    let cid = required_id(call, "cid")?;
    let start = number(call, "time", 0, i64::MAX)?
        .ok_or_else(|| DeviceError::new(ERR_BAD_REQUEST, "time is required"))?;
    let duration = number(call, "duration", 1, MAX_DURATION)?.unwrap_or(DEFAULT_DURATION);
    let excluded = excluded_services(call)?;
    let redirect = wants_redirect(call);

    let sql = format!(
        "SELECT c.id, c.url_prefix, c.id_for_stream_service, c.recording_days FROM channel c \
         WHERE c.id = $1 AND c.client_id = $2 AND c.enabled AND EXISTS ( \
         SELECT 1 FROM tariff_channel tc WHERE tc.channel_id = c.id AND tc.tariff_id IN ({}))",
        super::in_list(3, &tariffs)
    );
    let mut args = vec![cid, call.client.id];
    args.extend(&tariffs);
    let found: Vec<ArchiveRoute> = fetch_rows!(mw, &sql, &args)?;
    let channel = found
        .first()
        .ok_or_else(|| DeviceError::new(ERR_NO_ACCESS, "the channel is not in your tariffs"))?;
    check_archive_window(start, efir_store::now(), channel.recording_days)?;

    let content = if channel.id_for_stream_service.is_empty() {
        channel.id.to_string()
    } else {
        channel.id_for_stream_service.clone()
    };
    let dc = account_data_center(mw, session.account_id).await?;
    let service = pick_service(mw, call, "pvr", &tariffs, &excluded, dc).await?;
    let url = build_url(
        &service,
        &StreamVars {
            prefix: &channel.url_prefix,
            content: &content,
            start: Some(start),
            duration: Some(duration),
        },
        session.account_id,
        call.ip,
    );
    let mut reply = url_reply(&url, service.id, redirect);
    if let serde_json::Value::Object(map) = &mut reply.body {
        map.insert("preview_uri_mask".into(), json!(""));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::check_archive_window;

    #[test]
    fn archive_window_is_recording_days_back_to_now() {
        let now = 1_000_000;
        assert!(check_archive_window(now - 3600, now, 1).is_ok());
        assert!(check_archive_window(now - 86_400, now, 1).is_ok());
        assert_eq!(
            check_archive_window(now - 86_401, now, 1).unwrap_err().code,
            11
        );
        assert_eq!(check_archive_window(now + 1, now, 1).unwrap_err().code, 400);
        assert_eq!(check_archive_window(now - 1, now, 0).unwrap_err().code, 11);
        assert!(check_archive_window(0, now, i64::MAX).is_ok());
    }
}
