//! The request paths the router answers, parsed strictly.
//!
//! * `/btv/live/<protocol>/<channel>[.<ext>]`
//! * `/btv/catchup/<protocol>/<programme>[.<ext>]`
//! * `/vod/<protocol>/<asset path>`
//!
//! Set-top boxes append a file extension to live and catch-up ids
//! (`/btv/live/hls/epg_0.m3u8`); it is accepted and dropped. A protocol is
//! a short lowercase word (`hls`, `mpd`, `hls_wv`, …). Asset paths may hold
//! `%XX` escapes; no segment may be empty, `.` or `..` (also when escaped),
//! or decode to a slash, backslash or control character, so an asset path
//! can never climb out of the edge's content root.

use std::fmt;

/// Longest protocol name.
pub const MAX_PROTOCOL: usize = 16;
/// Longest channel or programme id.
pub const MAX_ID: usize = 128;
/// Longest file extension accepted after an id.
pub const MAX_EXTENSION: usize = 8;
/// Longest VOD asset path.
pub const MAX_ASSET_PATH: usize = 1024;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A live channel.
    Live {
        /// Delivery protocol (`hls`, `mpd`, …).
        protocol: &'a str,
        /// Channel id, without the extension.
        channel: &'a str,
    },
    /// A recorded programme.
    Catchup {
        /// Delivery protocol.
        protocol: &'a str,
        /// EPG or programme id, without the extension.
        programme: &'a str,
    },
    /// A video-on-demand asset.
    Vod {
        /// Delivery protocol.
        protocol: &'a str,
        /// Asset path below the protocol, as sent (escapes kept).
        path: &'a str,
    },
}

/// Why a path is refused (the body of a 400 or 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

fn err(message: impl Into<String>) -> PathError {
    PathError(message.into())
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Result<Route<'_>, PathError> {
    if let Some(rest) = path.strip_prefix("/btv/live/") {
        let (protocol, channel) = protocol_and_id(rest, "channel")?;
        return Ok(Route::Live { protocol, channel });
    }
    if let Some(rest) = path.strip_prefix("/btv/catchup/") {
        let (protocol, programme) = protocol_and_id(rest, "programme")?;
        return Ok(Route::Catchup {
            protocol,
            programme,
        });
    }
    if let Some(rest) = path.strip_prefix("/vod/") {
        let (protocol, asset) = rest
            .split_once('/')
            .ok_or_else(|| err("expected /vod/<protocol>/<asset path>"))?;
        check_protocol(protocol)?;
        check_asset(asset)?;
        return Ok(Route::Vod {
            protocol,
            path: asset,
        });
    }
    Err(err(
        "unknown path: expected /btv/live/<protocol>/<channel>, /btv/catchup/<protocol>/<programme> or /vod/<protocol>/<asset path>",
    ))
}

fn check_protocol(p: &str) -> Result<(), PathError> {
    let ok = !p.is_empty()
        && p.len() <= MAX_PROTOCOL
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "protocol must be 1 to {MAX_PROTOCOL} lowercase letters, digits or '_'"
        )))
    }
}

/// `<protocol>/<id>[.<ext>][/]` → (protocol, id).
fn protocol_and_id<'a>(rest: &'a str, what: &str) -> Result<(&'a str, &'a str), PathError> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (protocol, id) = rest
        .split_once('/')
        .ok_or_else(|| err(format!("expected <protocol>/<{what}>")))?;
    check_protocol(protocol)?;
    let id = match id.rsplit_once('.') {
        Some((stem, ext))
            if !ext.is_empty()
                && ext.len() <= MAX_EXTENSION
                && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            stem
        }
        Some(_) => return Err(err(format!("bad file extension after the {what} id"))),
        None => id,
    };
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok((protocol, id))
    } else {
        Err(err(format!(
            "{what} id must be 1 to {MAX_ID} letters, digits, '_' or '-'"
        )))
    }
}

fn check_asset(asset: &str) -> Result<(), PathError> {
    if asset.is_empty() || asset.len() > MAX_ASSET_PATH {
        return Err(err(format!(
            "asset path must be 1 to {MAX_ASSET_PATH} bytes"
        )));
    }
    for segment in asset.split('/') {
        let decoded = decode(segment)?;
        if decoded.is_empty() || decoded == b"." || decoded == b".." {
            return Err(err("asset path segments may not be empty, '.' or '..'"));
        }
        if decoded
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f)
        {
            return Err(err(
                "asset path may not hold encoded slashes, backslashes or control characters",
            ));
        }
    }
    Ok(())
}

/// Percent-decodes one segment; a `%` not followed by two hex digits is an
/// error.
fn decode(segment: &str) -> Result<Vec<u8>, PathError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| err("bad %-escape in the asset path"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_catchup_with_and_without_extensions() {
        assert_eq!(
            parse("/btv/live/hls/epg_0.m3u8"),
            Ok(Route::Live {
                protocol: "hls",
                channel: "epg_0"
            })
        );
        assert_eq!(
            parse("/btv/live/mpd_wv/first-channel"),
            Ok(Route::Live {
                protocol: "mpd_wv",
                channel: "first-channel"
            })
        );
        assert_eq!(
            parse("/btv/catchup/hls/123456.m3p4/"),
            Ok(Route::Catchup {
                protocol: "hls",
                programme: "123456"
            })
        );
        for bad in [
            "/btv/live/hls/",
            "/btv/live/hls",
            "/btv/live//ch",
            "/btv/live/HLS/ch",
            "/btv/live/hls/a/b",
            "/btv/live/hls/ch.",
            "/btv/live/hls/ch.m3u8.toolongext",
            "/btv/live/hls/.m3u8",
            "/btv/live/hls/%2e%2e",
            "/btv/catchup/hls/ü",
            "/btv/other/hls/x",
            "/",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = format!("/btv/live/hls/{}", "a".repeat(MAX_ID + 1));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn vod_paths_cannot_climb() {
        assert_eq!(
            parse("/vod/hls/movies/My%20Film/index.m3u8"),
            Ok(Route::Vod {
                protocol: "hls",
                path: "movies/My%20Film/index.m3u8"
            })
        );
        for bad in [
            "/vod/hls/../etc/passwd",
            "/vod/hls/a/%2e%2E/b",
            "/vod/hls/a/%2Fb",
            "/vod/hls/a%5cb",
            "/vod/hls/a//b",
            "/vod/hls/a/",
            "/vod/hls/a%00b",
            "/vod/hls/a%zz",
            "/vod/hls/a%2",
            "/vod/hls/",
            "/vod/hls",
            "/vod//a",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = format!("/vod/hls/{}", "a/".repeat(600));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn mutations_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds = [
            "/btv/live/hls/epg_0.m3u8",
            "/btv/catchup/mpd/123.mpd",
            "/vod/hls/a/b%20c/d.mp4",
        ];
        let alphabet = b"/.%_-aZ09\\\x00\xff";
        for _ in 0..5000 {
            let mut bytes = seeds[rng.random_range(0..seeds.len())].as_bytes().to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=bytes.len());
                match rng.random_range(0..3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                    _ => bytes.truncate(at),
                }
            }
            let s = String::from_utf8_lossy(&bytes);
            if let Ok(Route::Vod { path, .. }) = parse(&s) {
                assert!(!path.split('/').any(|seg| seg == ".." || seg.is_empty()));
            }
        }
    }
}
