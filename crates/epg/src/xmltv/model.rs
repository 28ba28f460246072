//! What the reader yields: channels, programmes and the reports of skipped
//! elements.

use serde::{Deserialize, Serialize};

use super::XmltvTime;

/// Bounds on what one channel or programme may hold, so that a hostile or
/// broken guide cannot make the reader use unbounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest text (title, description, …) in bytes, after decoding;
    /// a longer one makes its channel or programme skipped. Default 64 KiB.
    pub max_text_bytes: usize,
    /// The most child elements (at any depth) one channel or programme may
    /// have; more makes it skipped. Default 1000.
    pub max_items_per_programme: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 64 * 1024,
            max_items_per_programme: 1000,
        }
    }
}

/// One item of the guide, in document order.
// Programmes are the common case: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Item {
    /// A `<channel>`.
    Channel(Channel),
    /// A `<programme>`.
    Programme(Programme),
    /// A channel or programme that could not be read and was skipped.
    Skipped(Skipped),
}

/// A channel or programme that was malformed and skipped (bad/missing start or channel attribute, a text longer than the limit, an undefined entity, invalid characters...): the import reports it and goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The line (1-based) where the element starts.
    pub line: u64,
    /// `"channel"` or `"programme"`.
    pub element: &'static str,
    /// Why it was skipped.
    pub message: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {} skipped: {}",
            self.line, self.element, self.message
        )
    }
}

/// A fatal error: the document cannot be read any further (malformed XML,
/// a document truncated before `</tv>`, a root element that is not `<tv>`,
/// an I/O error of the input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    /// The line (1-based) where the error is.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A text with its language: a title, a description, a category, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The `lang` attribute, if any.
    pub lang: Option<String>,
    /// The text, entities resolved, whitespace-trimmed, never empty.
    pub value: String,
}

/// An `<icon>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icon {
    /// The `src` URL.
    pub src: String,
    /// The `width` attribute, when it is a number.
    pub width: Option<u32>,
    /// The `height` attribute, when it is a number.
    pub height: Option<u32>,
}

/// A `<channel>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// The `id` attribute, which programmes refer to.
    pub id: String,
    /// The `<display-name>`s, in document order.
    pub display_names: Vec<Text>,
    /// The `<icon>`s.
    pub icons: Vec<Icon>,
    /// The `<url>`s.
    pub urls: Vec<String>,
    /// The line (1-based) where the element starts.
    pub line: u64,
}

/// One person of `<credits>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The element name: `director`, `actor`, `writer`, `adapter`,
    /// `producer`, `composer`, `editor`, `presenter`, `commentator` or `guest`.
    pub kind: String,
    /// The person.
    pub name: String,
    /// The `role` attribute (actors), if any.
    pub role: Option<String>,
}

/// An `<episode-num>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeNum {
    /// The `system` attribute: `xmltv_ns`, `onscreen`, `dd_progid`, …
    pub system: Option<String>,
    /// The number as written.
    pub value: String,
}

/// A `<rating>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The `system` attribute (`MPAA`, `RARS`, …), if any.
    pub system: Option<String>,
    /// The `<value>`.
    pub value: String,
}

/// A `<programme>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Programme {
    /// The `channel` attribute: the id of a channel.
    pub channel: String,
    /// The `start` attribute.
    pub start: XmltvTime,
    /// The `stop` attribute; `None` when missing or unparsable.
    pub stop: Option<XmltvTime>,
    /// The `<title>`s (usually one per language).
    pub titles: Vec<Text>,
    /// The `<sub-title>`s.
    pub sub_titles: Vec<Text>,
    /// The `<desc>`s.
    pub descs: Vec<Text>,
    /// The people of `<credits>`, in document order.
    pub credits: Vec<Credit>,
    /// The first `<date>` (the production date as written: `2019`, `20190512`).
    pub date: Option<String>,
    /// The `<category>`s.
    pub categories: Vec<Text>,
    /// The `<keyword>`s.
    pub keywords: Vec<Text>,
    /// The `<country>`s.
    pub countries: Vec<Text>,
    /// The `<episode-num>`s.
    pub episode_nums: Vec<EpisodeNum>,
    /// The `<icon>`s.
    pub icons: Vec<Icon>,
    /// The `<rating>`s.
    pub ratings: Vec<Rating>,
    /// The first `<star-rating>`'s value as written (`3/5`).
    pub star_rating: Option<String>,
    /// `<length>` in seconds (units `seconds`, `minutes` — also when
    /// missing — or `hours`).
    pub length_secs: Option<i64>,
    /// `<premiere>` is present.
    pub premiere: bool,
    /// `<new>` is present.
    pub new: bool,
    /// `<previously-shown>` is present.
    pub previously_shown: bool,
    /// The line (1-based) where the element starts.
    pub line: u64,
}

impl Programme {
    /// 1-based `(season, episode)`: from the first `xmltv_ns` episode number
    /// that has a season or an episode (`2.9.` is season 3 episode 10,
    /// ` . 4 . ` is episode 5), else from an `onscreen` one (`S01E01`,
    /// `S1 E2`, `E05`). `None` when neither gives anything.
    pub fn episode(&self) -> Option<(Option<u32>, Option<u32>)> {
        fn by<'a>(
            nums: &'a [EpisodeNum],
            system: &'static str,
        ) -> impl Iterator<Item = &'a EpisodeNum> + 'a {
            nums.iter().filter(move |e| {
                e.system
                    .as_deref()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case(system))
            })
        }
        by(&self.episode_nums, "xmltv_ns")
            .find_map(|e| xmltv_ns(&e.value))
            .or_else(|| by(&self.episode_nums, "onscreen").find_map(|e| onscreen(&e.value)))
    }
}

/// `season.episode.part`, zero-based, each part `N`, `N/TOTAL` or empty.
fn xmltv_ns(v: &str) -> Option<(Option<u32>, Option<u32>)> {
    let mut parts = v.split('.');
    let mut next = || -> Option<u32> {
        let p = parts.next()?;
        let n = p.split('/').next()?.trim();
        n.parse::<u32>().ok()?.checked_add(1)
    };
    let season = next();
    let episode = next();
    (season.is_some() || episode.is_some()).then_some((season, episode))
}

/// `S01E02`, `s1 e2`, `S01`, `E05`, `Ep. 5` is not recognised.
fn onscreen(v: &str) -> Option<(Option<u32>, Option<u32>)> {
    fn number_after(v: &[u8], i: usize) -> Option<(u32, usize)> {
        let mut j = i;
        while j < v.len() && v[j] == b' ' {
            j += 1;
        }
        let start = j;
        let mut n: u32 = 0;
        while j < v.len() && v[j].is_ascii_digit() {
            n = n.checked_mul(10)?.checked_add(u32::from(v[j] - b'0'))?;
            j += 1;
        }
        (j > start).then_some((n, j))
    }
    let b = v.trim().as_bytes();
    let mut season = None;
    let mut episode = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i].to_ascii_uppercase();
        // A letter that starts a word or follows a number: S01E02.
        let at_boundary = i == 0 || !b[i - 1].is_ascii_alphabetic();
        if (c == b'S' || c == b'E') && at_boundary {
            if let Some((n, j)) = number_after(b, i + 1) {
                if c == b'S' && season.is_none() {
                    season = Some(n);
                } else if c == b'E' && episode.is_none() {
                    episode = Some(n);
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    (season.is_some() || episode.is_some()).then_some((season, episode))
}

/// Parses a whole document and counts, without storing anything: the core of `efir manage epg-check` and of the parse-only benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CheckSummary {
    /// Channels read.
    pub channels: u64,
    /// Programmes read (not counting skipped ones).
    pub programmes: u64,
    /// The channels and programmes skipped, in document order.
    pub skipped: Vec<Skipped>,
    /// Bytes of (decompressed) input read.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(nums: &[(&str, &str)]) -> Programme {
        Programme {
            channel: "c".into(),
            start: XmltvTime::parse("20260101").unwrap(),
            stop: None,
            titles: vec![],
            sub_titles: vec![],
            descs: vec![],
            credits: vec![],
            date: None,
            categories: vec![],
            keywords: vec![],
            countries: vec![],
            episode_nums: nums
                .iter()
                .map(|(s, v)| EpisodeNum {
                    system: Some(s.to_string()),
                    value: v.to_string(),
                })
                .collect(),
            icons: vec![],
            ratings: vec![],
            star_rating: None,
            length_secs: None,
            premiere: false,
            new: false,
            previously_shown: false,
            line: 1,
        }
    }

    #[test]
    fn xmltv_ns_forms() {
        let cases = [
            ("2.9.", Some((Some(3), Some(10)))),
            (" . 4 . ", Some((None, Some(5)))),
            ("0.0.0/1", Some((Some(1), Some(1)))),
            ("1/3.11/20.0/2", Some((Some(2), Some(12)))),
            ("3", Some((Some(4), None))),
            ("..", None),
            ("", None),
            ("x.y.", None),
        ];
        for (v, want) in cases {
            assert_eq!(prog(&[("xmltv_ns", v)]).episode(), want, "{v:?}");
        }
    }

    #[test]
    fn onscreen_forms() {
        let cases = [
            ("S01E01", Some((Some(1), Some(1)))),
            ("s2e13", Some((Some(2), Some(13)))),
            ("S3 E4", Some((Some(3), Some(4)))),
            ("E05", Some((None, Some(5)))),
            ("Season 2", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(prog(&[("onscreen", v)]).episode(), want, "{v:?}");
        }
    }

    #[test]
    fn xmltv_ns_wins_over_onscreen_and_falls_back() {
        let p = prog(&[("onscreen", "S09E09"), ("xmltv_ns", "0.1.")]);
        assert_eq!(p.episode(), Some((Some(1), Some(2))));
        let p = prog(&[("xmltv_ns", ".."), ("onscreen", "S09E09")]);
        assert_eq!(p.episode(), Some((Some(9), Some(9))));
        assert_eq!(prog(&[("dd_progid", "EP0123.0045")]).episode(), None);
        assert_eq!(prog(&[]).episode(), None);
    }
}
