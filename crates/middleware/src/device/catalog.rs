//! Content lists and playback URLs beyond live channels: radio, cameras,
//! applications, VOD (`video/list|detail|url`, `video/episode/list`),
//! catch-up (`program/url`) and the subscriber's messages.
//!
//! Everything listed is what the account's tariffs open now (the same
//! rules as `channel/list/`: active state and geography), through the
//! `tariff_radio`, `tariff_camera`, `tariff_application`, `tariff_video`
//! and `tariff_channel` links. Names come in the call's language.

use super::{Call, DeviceError, Reply, Session, ERR_BAD_REQUEST};
use crate::Middleware;

/// Fetches every row of `$sql` with the `i64` arguments `$args` bound in
/// order, on whichever database the store runs: these lists are read-only,
/// so on a read replica when there is a healthy one ([`efir_store::read_db!`]).
macro_rules! fetch_rows {
    ($mw:expr, $sql:expr, $args:expr) => {
        efir_store::read_db!($mw.store, p => {
            let mut q = sqlx::query_as($sql);
            for a in $args {
                q = q.bind(*a);
            }
            q.fetch_all(p).await
        })
    };
}

mod lists;
mod messages;
mod playback;
mod video;
pub(crate) mod viewstats;

/// Runs `method` if it belongs here.
pub(crate) async fn dispatch(
    mw: &Middleware,
    call: &Call,
    method: &str,
) -> Option<Result<Reply, DeviceError>> {
    let result = match method {
        "radio/list" => lists::radio_list(mw, call).await.map(Reply::from),
        "camera/list" => lists::camera_list(mw, call).await.map(Reply::from),
        "application/list" => lists::application_list(mw, call).await.map(Reply::from),
        "video/list" => video::video_list(mw, call).await.map(Reply::from),
        "video/detail" => video::video_detail(mw, call).await.map(Reply::from),
        "video/episode/list" => video::episode_list(mw, call).await.map(Reply::from),
        "video/url" => playback::video_url(mw, call).await,
        "program/url" => playback::program_url(mw, call).await,
        "message/list" => messages::message_list(mw, call).await.map(Reply::from),
        "message/detail" => messages::message_detail(mw, call).await.map(Reply::from),
        "message/delete" => messages::message_delete(mw, call).await.map(Reply::from),
        "stat/push" => viewstats::stat_push(mw, call).await.map(Reply::from),
        _ => return None,
    };
    Some(result)
}

/// The call's session and the tariffs that apply to its account now.
async fn open_tariffs(mw: &Middleware, call: &Call) -> Result<(Session, Vec<i64>), DeviceError> {
    let session = call.session(mw).await?;
    let ids = super::channels::tariff_ids(mw, call, session.account_id).await?;
    Ok((session, ids))
}

/// An optional whole-number parameter within `min..=max`; anything else
/// sent is a 400.
fn number(call: &Call, name: &str, min: i64, max: i64) -> Result<Option<i64>, DeviceError> {
    match call
        .params
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(DeviceError::new(
                ERR_BAD_REQUEST,
                format!("{name} must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// A required id parameter (a positive whole number); a 400 otherwise.
fn required_id(call: &Call, name: &str) -> Result<i64, DeviceError> {
    number(call, name, 1, i64::MAX)?
        .ok_or_else(|| DeviceError::new(ERR_BAD_REQUEST, format!("{name} is required")))
}

/// `$first, …` placeholders for `ids`, or `NULL` when there are none (so
/// that `IN (NULL)` matches nothing).
fn in_list(first: usize, ids: &[i64]) -> String {
    if ids.is_empty() {
        "NULL".to_string()
    } else {
        crate::access::placeholders(first, ids.len())
    }
}

/// A row's names in the operator's five additional languages
/// (`name_lang1` … `name_lang5`); flattened into row structs.
#[derive(Debug, Default, sqlx::FromRow)]
struct Names {
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
}

impl Names {
    /// `name` in the call's language.
    fn pick<'a>(&'a self, call: &Call, name: &'a str) -> &'a str {
        call.localised(
            name,
            [
                &self.name_lang1,
                &self.name_lang2,
                &self.name_lang3,
                &self.name_lang4,
                &self.name_lang5,
            ],
        )
    }
}

/// The `name_lang1, …, name_lang5` columns of table alias `t`.
fn name_columns(t: &str) -> String {
    (1..=5)
        .map(|i| format!("{t}.name_lang{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_in_lists_match_nothing() {
        assert_eq!(super::in_list(3, &[]), "NULL");
        assert_eq!(super::in_list(3, &[7, 8]), "$3, $4");
    }
}
