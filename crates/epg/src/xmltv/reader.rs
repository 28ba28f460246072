//! The streaming reader: quick-xml events in, channels and programmes out.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::encoding::Decoder;
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::Reader;

use super::text::{check_chars, finish, resolve_entity, shorten, unescape};
use super::{
    Channel, CheckSummary, Credit, EpisodeNum, Icon, Item, Limits, ParseError, Programme, Rating,
    Skipped, Text, XmltvTime,
};

/// Counts the bytes and the line feeds quick-xml consumes from the input.
struct Counting<R> {
    inner: R,
    newlines: u64,
    bytes: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.inner.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        if amt == 0 {
            return;
        }
        // `consume` always follows a `fill_buf` that returned at least `amt`
        // bytes, so this `fill_buf` returns the same buffer without I/O.
        if let Ok(avail) = self.inner.fill_buf() {
            let n = amt.min(avail.len());
            self.newlines += count_newlines(&avail[..n]);
        }
        self.bytes += amt as u64;
        self.inner.consume(amt);
    }
}

#[inline]
fn count_newlines(b: &[u8]) -> u64 {
    // Vectorised by the compiler; chunked so the counter stays narrow.
    b.chunks(255 * 16)
        .map(|c| c.iter().filter(|&&x| x == b'\n').count() as u64)
        .sum()
}

enum State {
    /// Before the root element.
    Prolog,
    /// Inside `<tv>`.
    Root,
    /// After `</tv>`.
    Done,
    /// After a fatal error, which every later call returns again.
    Failed(ParseError),
}

/// Reads an XMLTV document as a stream of [`Item`]s, holding one channel or
/// programme at a time.
///
/// The reader is liberal: children may come in any order, unknown elements
/// are ignored, a lone `&` is kept as text. What makes one channel or
/// programme unusable (a missing `channel` or an unparsable `start`, an
/// undefined entity, invalid characters or encoding, a text over
/// [`Limits::max_text_bytes`], a mismatched end tag inside it) yields an
/// [`Item::Skipped`] and reading goes on. What makes the rest of the
/// document unreadable is a fatal [`ParseError`].
///
/// A DOCTYPE is read and ignored: its entity declarations are never
/// expanded. The declared encoding (`windows-1251`, `ISO-8859-1`, …) is
/// honoured; UTF-16 is not supported.
pub struct XmltvReader<R: BufRead> {
    xml: Reader<Counting<R>>,
    buf: Vec<u8>,
    text: String,
    limits: Limits,
    state: State,
}

impl<R: BufRead> XmltvReader<R> {
    /// A reader with the default [`Limits`].
    pub fn new(reader: R) -> Self {
        Self::with_limits(reader, Limits::default())
    }

    /// A reader with the given [`Limits`].
    pub fn with_limits(reader: R, limits: Limits) -> Self {
        let mut xml = Reader::from_reader(Counting {
            inner: reader,
            newlines: 0,
            bytes: 0,
        });
        let config = xml.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.check_comments = false;
        config.expand_empty_elements = false;
        config.allow_dangling_amp = true;
        XmltvReader {
            xml,
            buf: Vec::with_capacity(64 * 1024),
            text: String::with_capacity(4096),
            limits,
            state: State::Prolog,
        }
    }

    /// Next item; Ok(None) at the proper end of the document (after `</tv>`).
    /// Err is fatal: malformed XML, truncated document (EOF before `</tv>`), root not `<tv>`.
    pub fn next_item(&mut self) -> Result<Option<Item>, ParseError> {
        match &self.state {
            State::Done => return Ok(None),
            State::Failed(e) => return Err(e.clone()),
            State::Prolog | State::Root => {}
        }
        let mut buf = std::mem::take(&mut self.buf);
        let r = self.next_inner(&mut buf);
        self.buf = buf;
        if let Err(e) = &r {
            self.state = State::Failed(e.clone());
        }
        r
    }

    /// Bytes of (decoded input) consumed so far, for progress bars: with a
    /// compressed guide these are decompressed bytes.
    pub fn position(&self) -> u64 {
        self.xml.get_ref().bytes
    }

    /// The current line, 1-based.
    fn line(&self) -> u64 {
        self.xml.get_ref().newlines + 1
    }

    fn read<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<Event<'b>, XmlError> {
        buf.clear();
        self.xml.read_event_into(buf)
    }

    fn next_inner(&mut self, buf: &mut Vec<u8>) -> Result<Option<Item>, ParseError> {
        loop {
            let line = self.line();
            let ev = match self.read(buf) {
                Ok(ev) => ev,
                Err(XmlError::IllFormed(
                    e @ (IllFormedError::MismatchedEndTag { .. }
                    | IllFormedError::UnmatchedEndTag(_)),
                )) => return Err(fatal(line, &e)),
                // Anything else ill-formed outside of items (a bad XML
                // declaration or DOCTYPE, …) does not matter to a guide.
                Err(XmlError::IllFormed(_)) => continue,
                Err(e) => return Err(fatal(line, &e)),
            };
            let in_root = matches!(self.state, State::Root);
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) if !in_root => {
                    if e.name().as_ref() != b"tv" {
                        return Err(ParseError {
                            line,
                            message: format!(
                                "the root element is <{}>, not <tv>: not an XMLTV guide",
                                shorten(&String::from_utf8_lossy(e.name().as_ref()))
                            ),
                        });
                    }
                    if matches!(ev, Event::Empty(_)) {
                        return self.finish_document(buf);
                    }
                    self.state = State::Root;
                }
                Event::Eof if !in_root => {
                    return Err(ParseError {
                        line,
                        message: "no <tv> element: the input is empty or not an XMLTV guide".into(),
                    })
                }
                Event::Start(e) => match e.name().as_ref() {
                    b"programme" => {
                        let head = ProgrammeHead::read(&e, self.xml.decoder(), line);
                        return self.programme(buf, head, false).map(Some);
                    }
                    b"channel" => {
                        let head = ChannelHead::read(&e, self.xml.decoder());
                        return self.channel(buf, head, line, false).map(Some);
                    }
                    _ => self.skip_element(buf)?,
                },
                Event::Empty(e) => match e.name().as_ref() {
                    b"programme" => {
                        let head = ProgrammeHead::read(&e, self.xml.decoder(), line);
                        return self.programme(buf, head, true).map(Some);
                    }
                    b"channel" => {
                        let head = ChannelHead::read(&e, self.xml.decoder());
                        return self.channel(buf, head, line, true).map(Some);
                    }
                    _ => {}
                },
                // quick-xml checks end names: this is `</tv>`.
                Event::End(_) => return self.finish_document(buf),
                Event::Eof => {
                    return Err(ParseError {
                        line,
                        message: "the document is truncated: end of input before </tv>".into(),
                    })
                }
                _ => {}
            }
        }
    }

    /// After the root: reads what is left (comments, whitespace; anything
    /// else is ignored) so that [`Self::position`] reaches the end.
    fn finish_document(&mut self, buf: &mut Vec<u8>) -> Result<Option<Item>, ParseError> {
        self.state = State::Done;
        loop {
            match self.read(buf) {
                Ok(Event::Eof) | Err(XmlError::Io(_) | XmlError::Syntax(_)) => return Ok(None),
                _ => {}
            }
        }
    }

    /// Reads up to the end of an element whose start was just read.
    fn skip_element(&mut self, buf: &mut Vec<u8>) -> Result<(), ParseError> {
        let mut depth = 1u32;
        loop {
            let line = self.line();
            match self.read(buf) {
                Ok(Event::Start(_)) => depth += 1,
                Ok(Event::End(_))
                | Err(XmlError::IllFormed(IllFormedError::MismatchedEndTag { .. })) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Ok(Event::Eof) => {
                    return Err(ParseError {
                        line,
                        message: "the document is truncated: end of input before </tv>".into(),
                    })
                }
                Ok(_) | Err(XmlError::IllFormed(_)) => {}
                Err(e) => return Err(fatal(line, &e)),
            }
        }
    }

    fn programme(
        &mut self,
        buf: &mut Vec<u8>,
        head: ProgrammeHead,
        empty: bool,
    ) -> Result<Item, ParseError> {
        let line = head.line;
        let (mut body, fail) = head.into_body();
        let fail = if empty {
            fail
        } else {
            self.body(buf, &mut body, line, fail)?
        };
        Ok(match fail {
            Some(message) => Item::Skipped(Skipped {
                line,
                element: "programme",
                message,
            }),
            None => Item::Programme(body.p),
        })
    }

    fn channel(
        &mut self,
        buf: &mut Vec<u8>,
        head: Result<String, String>,
        line: u64,
        empty: bool,
    ) -> Result<Item, ParseError> {
        let (id, fail) = match head {
            Ok(id) => (id, None),
            Err(m) => (String::new(), Some(m)),
        };
        let mut body = ChannelBody(Channel {
            id,
            display_names: Vec::new(),
            icons: Vec::new(),
            urls: Vec::new(),
            line,
        });
        let fail = if empty {
            fail
        } else {
            self.body(buf, &mut body, line, fail)?
        };
        Ok(match fail {
            Some(message) => Item::Skipped(Skipped {
                line,
                element: "channel",
                message,
            }),
            None => Item::Channel(body.0),
        })
    }

    /// Reads the children of a channel or programme up to its end tag,
    /// handing them to `h`. Returns why the item must be skipped, if it
    /// must; `fail` is an earlier reason (then children are only skipped).
    fn body<H: Body>(
        &mut self,
        buf: &mut Vec<u8>,
        h: &mut H,
        start_line: u64,
        mut fail: Option<String>,
    ) -> Result<Option<String>, ParseError> {
        let max_text = self.limits.max_text_bytes;
        let max_items = self.limits.max_items_per_programme;
        let mut depth = 1u32;
        let mut items = 0usize;
        let mut cap: Option<Capture> = None;
        self.text.clear();
        let at = |line: u64| {
            if line == start_line {
                String::new()
            } else {
                format!(" (line {line})")
            }
        };
        loop {
            let line = self.line();
            let ev = match self.read(buf) {
                Ok(ev) => ev,
                Err(XmlError::IllFormed(IllFormedError::MismatchedEndTag { expected, found })) => {
                    // quick-xml closed `expected`: go on as if it were.
                    if fail.is_none() {
                        let found = if found.is_empty() {
                            "an undecodable end tag".to_string()
                        } else {
                            format!("</{}>", shorten(&found))
                        };
                        fail = Some(format!(
                            "{found} where </{}> was expected{}",
                            shorten(&expected),
                            at(line)
                        ));
                    }
                    Event::End(BytesEnd::new(""))
                }
                Err(XmlError::IllFormed(e)) => {
                    if fail.is_none() {
                        fail = Some(format!("{e}{}", at(line)));
                    }
                    continue;
                }
                Err(e) => return Err(fatal(line, &e)),
            };
            match ev {
                Event::Text(t) => {
                    if fail.is_none() && cap.as_ref().is_some_and(|c| c.depth == depth) {
                        if let Err(m) =
                            append(&mut self.text, &t, || t.decode(), max_text, cap.as_ref())
                        {
                            fail = Some(format!("{m}{}", at(line)));
                        }
                    }
                }
                Event::Start(e) => {
                    depth += 1;
                    items += 1;
                    if fail.is_none() {
                        if items > max_items {
                            fail = Some(format!("more than {max_items} child elements"));
                        } else if cap.is_none() {
                            match h.open(depth, &e, self.xml.decoder()) {
                                Ok(Some((field, lang, extra))) => {
                                    cap = Some(Capture {
                                        depth,
                                        field,
                                        lang,
                                        extra,
                                    });
                                    self.text.clear();
                                }
                                Ok(None) => {}
                                Err(m) => fail = Some(format!("{m}{}", at(line))),
                            }
                        }
                    }
                }
                Event::Empty(e) => {
                    items += 1;
                    if fail.is_none() {
                        if items > max_items {
                            fail = Some(format!("more than {max_items} child elements"));
                        } else if cap.is_none() {
                            if let Err(m) = h.open(depth + 1, &e, self.xml.decoder()) {
                                fail = Some(format!("{m}{}", at(line)));
                            } else {
                                h.close(depth + 1);
                            }
                        }
                    }
                }
                Event::End(_) => {
                    if depth == 1 {
                        return Ok(fail);
                    }
                    if fail.is_none() {
                        if cap.as_ref().is_some_and(|c| c.depth == depth) {
                            let c = cap.take().expect("checked");
                            let value = finish(&self.text);
                            if !value.is_empty() {
                                h.text(c.field, c.lang, c.extra, value);
                            }
                        }
                        if cap.is_none() {
                            h.close(depth);
                        }
                    }
                    depth -= 1;
                }
                Event::CData(t) => {
                    if fail.is_none() && cap.as_ref().is_some_and(|c| c.depth == depth) {
                        if let Err(m) =
                            append(&mut self.text, &t, || t.decode(), max_text, cap.as_ref())
                        {
                            fail = Some(format!("{m}{}", at(line)));
                        }
                    }
                }
                Event::GeneralRef(r) => {
                    if fail.is_none() {
                        let resolved = match r.decode() {
                            Ok(name) => resolve_entity(&name),
                            Err(_) => Err("an entity name in a wrong encoding".to_string()),
                        };
                        match resolved {
                            Ok(c) => {
                                if cap.as_ref().is_some_and(|c| c.depth == depth) {
                                    if self.text.len() + c.len_utf8() > max_text {
                                        fail = Some(format!(
                                            "{}{}",
                                            too_long(cap.as_ref(), max_text),
                                            at(line)
                                        ));
                                    } else {
                                        self.text.push(c);
                                    }
                                }
                            }
                            Err(m) => fail = Some(format!("{m}{}", at(line))),
                        }
                    }
                }
                Event::Eof => {
                    return Err(ParseError {
                        line,
                        message: "the document is truncated: end of input before </tv>".into(),
                    })
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }
}

/// Appends a text or CDATA event to the text being captured.
#[inline]
fn append<'e>(
    text: &mut String,
    raw: &[u8],
    decode: impl FnOnce() -> Result<Cow<'e, str>, quick_xml::encoding::EncodingError>,
    max: usize,
    cap: Option<&Capture>,
) -> Result<(), String> {
    if text.len() + raw.len() > max {
        return Err(too_long(cap, max));
    }
    let s = decode().map_err(|e| format!("{}: {e}", in_element(cap)))?;
    if text.len() + s.len() > max {
        return Err(too_long(cap, max));
    }
    check_chars(&s).map_err(|m| format!("{m} in {}", in_element(cap)))?;
    text.push_str(&s);
    Ok(())
}

fn in_element(cap: Option<&Capture>) -> String {
    format!("<{}>", cap.map_or("?", |c| c.field.name()))
}

fn too_long(cap: Option<&Capture>, max: usize) -> String {
    format!("the text of {} is longer than {max} bytes", in_element(cap))
}

fn fatal(line: u64, e: &dyn std::fmt::Display) -> ParseError {
    ParseError {
        line,
        message: e.to_string(),
    }
}

/// The text being collected: of the element at `depth`.
struct Capture {
    depth: u32,
    field: Field,
    lang: Option<String>,
    extra: Option<String>,
}

/// Elements whose text is kept.
#[derive(Clone, Copy)]
enum Field {
    DisplayName,
    Url,
    Title,
    SubTitle,
    Desc,
    Category,
    Keyword,
    Country,
    Date,
    EpisodeNum,
    Length,
    Credit(&'static str),
    RatingValue,
    StarValue,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::DisplayName => "display-name",
            Field::Url => "url",
            Field::Title => "title",
            Field::SubTitle => "sub-title",
            Field::Desc => "desc",
            Field::Category => "category",
            Field::Keyword => "keyword",
            Field::Country => "country",
            Field::Date => "date",
            Field::EpisodeNum => "episode-num",
            Field::Length => "length",
            Field::Credit(kind) => kind,
            Field::RatingValue | Field::StarValue => "value",
        }
    }
}

/// What to start collecting: the field, its `lang` and one more attribute.
type Open = Option<(Field, Option<String>, Option<String>)>;

/// The children of a channel or programme.
trait Body {
    /// A child opened at `depth` (2: a direct child). `Err` skips the item.
    fn open(&mut self, depth: u32, e: &BytesStart<'_>, dec: Decoder) -> Result<Open, String>;
    /// The element at `depth` that was opened (not collected) ends.
    fn close(&mut self, depth: u32);
    /// A collected text, trimmed, not empty.
    fn text(&mut self, field: Field, lang: Option<String>, extra: Option<String>, value: String);
}

/// The values of the attributes named `keys` (`xml:lang` counts as `lang`),
/// decoded, unescaped and trimmed; empty ones are `None`.
fn attrs<const N: usize>(
    e: &BytesStart<'_>,
    dec: Decoder,
    keys: [&[u8]; N],
) -> Result<[Option<String>; N], String> {
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| {
            format!(
                "malformed attribute in <{}>: {err}",
                shorten(&String::from_utf8_lossy(e.name().as_ref()))
            )
        })?;
        let key = match a.key.as_ref() {
            b"xml:lang" => b"lang".as_slice(),
            k => k,
        };
        if let Some(i) = keys.iter().position(|k| *k == key) {
            if out[i].is_none() {
                let v = attr_value(&a.value, dec)?;
                let v = v.trim();
                if !v.is_empty() {
                    out[i] = Some(v.to_owned());
                }
            }
        }
    }
    Ok(out)
}

fn attr_value(raw: &[u8], dec: Decoder) -> Result<Cow<'_, str>, String> {
    let s = dec
        .decode(raw)
        .map_err(|e| format!("an attribute value: {e}"))?;
    check_chars(&s).map_err(|m| format!("{m} in an attribute"))?;
    if s.contains('&') {
        Ok(Cow::Owned(unescape(&s)?.into_owned()))
    } else {
        Ok(s)
    }
}

fn icon(e: &BytesStart<'_>, dec: Decoder) -> Result<Option<Icon>, String> {
    let [src, width, height] = attrs(e, dec, [b"src", b"width", b"height"])?;
    Ok(src.map(|src| Icon {
        src,
        width: width.and_then(|w| w.parse().ok()),
        height: height.and_then(|h| h.parse().ok()),
    }))
}

/// The attributes of `<channel>`: its id, or why it must be skipped.
struct ChannelHead;

impl ChannelHead {
    fn read(e: &BytesStart<'_>, dec: Decoder) -> Result<String, String> {
        let [id] = attrs(e, dec, [b"id"])?;
        id.ok_or_else(|| "no id attribute".to_string())
    }
}

struct ChannelBody(Channel);

impl Body for ChannelBody {
    fn open(&mut self, depth: u32, e: &BytesStart<'_>, dec: Decoder) -> Result<Open, String> {
        if depth != 2 {
            return Ok(None);
        }
        Ok(match e.name().as_ref() {
            b"display-name" => {
                let [lang] = attrs(e, dec, [b"lang"])?;
                Some((Field::DisplayName, lang, None))
            }
            b"url" => Some((Field::Url, None, None)),
            b"icon" => {
                if let Some(icon) = icon(e, dec)? {
                    self.0.icons.push(icon);
                }
                None
            }
            _ => None,
        })
    }

    fn close(&mut self, _depth: u32) {}

    fn text(&mut self, field: Field, lang: Option<String>, _extra: Option<String>, value: String) {
        match field {
            Field::DisplayName => self.0.display_names.push(Text { lang, value }),
            Field::Url => self.0.urls.push(value),
            _ => {}
        }
    }
}

/// The attributes of `<programme>`.
struct ProgrammeHead {
    line: u64,
    channel: Option<String>,
    start: Result<XmltvTime, String>,
    stop: Option<XmltvTime>,
    error: Option<String>,
}

impl ProgrammeHead {
    fn read(e: &BytesStart<'_>, dec: Decoder, line: u64) -> ProgrammeHead {
        match attrs(e, dec, [b"start", b"stop", b"channel"]) {
            Ok([start, stop, channel]) => ProgrammeHead {
                line,
                channel,
                start: match start {
                    Some(s) => XmltvTime::parse(&s).map_err(|m| format!("start: {m}")),
                    None => Err("no start attribute".into()),
                },
                stop: stop.and_then(|s| XmltvTime::parse(&s).ok()),
                error: None,
            },
            Err(m) => ProgrammeHead {
                line,
                channel: None,
                start: Err(String::new()),
                stop: None,
                error: Some(m),
            },
        }
    }

    fn into_body(self) -> (ProgrammeBody, Option<String>) {
        let (start, mut fail) = match self.start {
            Ok(t) => (t, None),
            Err(m) => (XmltvTime::parse("1970").expect("valid"), Some(m)),
        };
        if self.channel.is_none() {
            let m = "no channel attribute";
            fail = Some(match fail {
                Some(f) => format!("{m}; {f}"),
                None => m.to_string(),
            });
        }
        if let Some(e) = self.error {
            fail = Some(e);
        }
        let p = Programme {
            channel: self.channel.unwrap_or_default(),
            start,
            stop: self.stop,
            titles: Vec::new(),
            sub_titles: Vec::new(),
            descs: Vec::new(),
            credits: Vec::new(),
            date: None,
            categories: Vec::new(),
            keywords: Vec::new(),
            countries: Vec::new(),
            episode_nums: Vec::new(),
            icons: Vec::new(),
            ratings: Vec::new(),
            star_rating: None,
            length_secs: None,
            premiere: false,
            new: false,
            previously_shown: false,
            line: self.line,
        };
        (
            ProgrammeBody {
                p,
                parent: Parent::None,
            },
            fail,
        )
    }
}

/// The direct child of `<programme>` whose own children matter.
enum Parent {
    None,
    Credits,
    Rating {
        system: Option<String>,
        value: Option<String>,
    },
    StarRating,
}

struct ProgrammeBody {
    p: Programme,
    parent: Parent,
}

fn credit_kind(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"director" => "director",
        b"actor" => "actor",
        b"writer" => "writer",
        b"adapter" => "adapter",
        b"producer" => "producer",
        b"composer" => "composer",
        b"editor" => "editor",
        b"presenter" => "presenter",
        b"commentator" => "commentator",
        b"guest" => "guest",
        _ => return None,
    })
}

impl Body for ProgrammeBody {
    fn open(&mut self, depth: u32, e: &BytesStart<'_>, dec: Decoder) -> Result<Open, String> {
        let name = e.name();
        let name = name.as_ref();
        if depth == 3 {
            return Ok(match &self.parent {
                Parent::Credits => match credit_kind(name) {
                    Some(kind) => {
                        let [role] = attrs(e, dec, [b"role"])?;
                        Some((Field::Credit(kind), None, role))
                    }
                    None => None,
                },
                Parent::Rating { .. } if name == b"value" => Some((Field::RatingValue, None, None)),
                Parent::StarRating if name == b"value" => Some((Field::StarValue, None, None)),
                _ => None,
            });
        }
        if depth != 2 {
            return Ok(None);
        }
        let lang = |field: Field| -> Result<Open, String> {
            let [lang] = attrs(e, dec, [b"lang"])?;
            Ok(Some((field, lang, None)))
        };
        match name {
            b"title" => lang(Field::Title),
            b"sub-title" => lang(Field::SubTitle),
            b"desc" => lang(Field::Desc),
            b"category" => lang(Field::Category),
            b"keyword" => lang(Field::Keyword),
            b"country" => lang(Field::Country),
            b"date" => Ok(Some((Field::Date, None, None))),
            b"episode-num" => {
                let [system] = attrs(e, dec, [b"system"])?;
                Ok(Some((Field::EpisodeNum, None, system)))
            }
            b"length" => {
                let [units] = attrs(e, dec, [b"units"])?;
                Ok(Some((Field::Length, None, units)))
            }
            b"icon" => {
                if let Some(icon) = icon(e, dec)? {
                    self.p.icons.push(icon);
                }
                Ok(None)
            }
            b"credits" => {
                self.parent = Parent::Credits;
                Ok(None)
            }
            b"rating" => {
                let [system] = attrs(e, dec, [b"system"])?;
                self.parent = Parent::Rating {
                    system,
                    value: None,
                };
                Ok(None)
            }
            b"star-rating" => {
                self.parent = Parent::StarRating;
                Ok(None)
            }
            b"premiere" => {
                self.p.premiere = true;
                Ok(None)
            }
            b"new" => {
                self.p.new = true;
                Ok(None)
            }
            b"previously-shown" => {
                self.p.previously_shown = true;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn close(&mut self, depth: u32) {
        if depth == 2 {
            if let Parent::Rating {
                system,
                value: Some(value),
            } = std::mem::replace(&mut self.parent, Parent::None)
            {
                self.p.ratings.push(Rating { system, value });
            }
        }
    }

    fn text(&mut self, field: Field, lang: Option<String>, extra: Option<String>, value: String) {
        let p = &mut self.p;
        match field {
            Field::Title => p.titles.push(Text { lang, value }),
            Field::SubTitle => p.sub_titles.push(Text { lang, value }),
            Field::Desc => p.descs.push(Text { lang, value }),
            Field::Category => p.categories.push(Text { lang, value }),
            Field::Keyword => p.keywords.push(Text { lang, value }),
            Field::Country => p.countries.push(Text { lang, value }),
            Field::Date => {
                p.date.get_or_insert(value);
            }
            Field::EpisodeNum => p.episode_nums.push(EpisodeNum {
                system: extra,
                value,
            }),
            Field::Length => {
                let secs = match extra.as_deref() {
                    Some("seconds") => Some(1),
                    Some("minutes") | None => Some(60),
                    Some("hours") => Some(3600),
                    Some(_) => None,
                };
                if let (Some(mult), Ok(n)) = (secs, value.parse::<i64>()) {
                    if p.length_secs.is_none() {
                        p.length_secs = n.checked_mul(mult);
                    }
                }
            }
            Field::Credit(kind) => p.credits.push(Credit {
                kind: kind.to_owned(),
                name: value,
                role: extra,
            }),
            Field::RatingValue => {
                if let Parent::Rating { value: v, .. } = &mut self.parent {
                    v.get_or_insert(value);
                }
            }
            Field::StarValue => {
                p.star_rating.get_or_insert(value);
            }
            Field::DisplayName | Field::Url => {}
        }
    }
}

/// Parses a whole document and counts, without storing anything: the core of `efir manage epg-check` and of the parse-only benchmark.
pub fn check<R: BufRead>(reader: R) -> Result<CheckSummary, ParseError> {
    let mut r = XmltvReader::new(reader);
    let mut summary = CheckSummary::default();
    while let Some(item) = r.next_item()? {
        match item {
            Item::Channel(_) => summary.channels += 1,
            Item::Programme(_) => summary.programmes += 1,
            Item::Skipped(s) => summary.skipped.push(s),
        }
    }
    summary.bytes = r.position();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_bytes_as_consumed() {
        let data = "a\nb\n".repeat(10_000);
        assert_eq!(count_newlines(data.as_bytes()), 20_000);
        let mut c = Counting {
            inner: io::BufReader::with_capacity(7, data.as_bytes()),
            newlines: 0,
            bytes: 0,
        };
        let mut out = [0u8; 3];
        let n = c.read(&mut out).unwrap();
        assert_eq!((n, c.bytes, c.newlines), (3, 3, 1));
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert_eq!((c.bytes, c.newlines), (data.len() as u64, 20_000));
    }

    #[test]
    fn lines_of_items_and_errors() {
        let doc = "<?xml version=\"1.0\"?>\n<tv>\n\n<channel\n id=\"a\"/>\n<programme start=\"2026\" channel=\"a\">\n<title>x</title>\n</programme>\n<programme";
        let mut r = XmltvReader::new(doc.as_bytes());
        let Some(Item::Channel(c)) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(c.line, 4);
        let Some(Item::Programme(p)) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(p.line, 6);
        let e = r.next_item().unwrap_err();
        assert_eq!(e.line, 9);
        assert!(e.to_string().starts_with("line 9: syntax error"), "{e}");
    }

    #[test]
    fn default_limits() {
        let l = Limits::default();
        assert_eq!((l.max_text_bytes, l.max_items_per_programme), (65536, 1000));
    }
}
