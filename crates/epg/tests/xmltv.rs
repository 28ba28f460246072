//! The XMLTV reader and the input opener, end to end.

use std::io::Write;

use chrono::NaiveDate;
use efir_epg::input::{self, InputError};
use efir_epg::xmltv::{
    check, Channel, Credit, DefaultZone, EpisodeNum, Icon, Item, Limits, ParseError, Programme,
    Rating, Skipped, Text, XmltvReader, XmltvTime,
};

fn read_all(doc: &[u8]) -> (Vec<Item>, Option<ParseError>) {
    read_all_with(doc, Limits::default())
}

fn read_all_with(doc: &[u8], limits: Limits) -> (Vec<Item>, Option<ParseError>) {
    let mut r = XmltvReader::with_limits(doc, limits);
    let mut out = Vec::new();
    loop {
        match r.next_item() {
            Ok(Some(i)) => out.push(i),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn programmes(items: &[Item]) -> Vec<&Programme> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Programme(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn skipped(items: &[Item]) -> Vec<&Skipped> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Skipped(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn t(s: &str) -> Text {
    Text {
        lang: None,
        value: s.into(),
    }
}

fn tl(lang: &str, s: &str) -> Text {
    Text {
        lang: Some(lang.into()),
        value: s.into(),
    }
}

/// A programme line for documents built in tests.
fn prog(start: &str, title: &str) -> String {
    format!("<programme start=\"{start}\" channel=\"c1\"><title>{title}</title></programme>\n")
}

fn doc(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n{body}</tv>\n")
}

const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE tv SYSTEM "xmltv.dtd">
<tv generator-info-name="test" source-info-url="http://example.com/">
  <channel id="c1.example">
    <display-name lang="ru">Первый</display-name>
    <display-name lang="en"> First </display-name>
    <display-name></display-name>
    <icon src="http://icons.example/1.png" width="64" height="48"/>
    <icon src="http://icons.example/1b.png" width="big"/>
    <icon/>
    <url>http://c1.example/</url>
    <unknown-element a="b"><nested>ignored</nested></unknown-element>
  </channel>
  <!-- a comment between items -->
  <channel id="c2.example"><display-name>Second</display-name></channel>
  <channel><display-name>No id</display-name></channel>
  <programme start="20261123060000 +0300" stop="20261123070000 +0300" channel="c1.example">
    <title lang="ru">Новости</title>
    <title lang="en">News &amp; weather</title>
    <sub-title lang="en">Morning</sub-title>
    <desc lang="en">
      The morning news.
    </desc>
    <credits>
      <director>Jane Doe</director>
      <actor role="Herself">Ann Smith<image>http://img.example/ann.jpg</image></actor>
      <actor>Bob</actor>
      <presenter>Carl</presenter>
      <stuntman>Ignored</stuntman>
    </credits>
    <date>2019</date>
    <category lang="en">News</category>
    <category lang="ru">Новости</category>
    <keyword lang="en">daily</keyword>
    <language>ru</language>
    <length units="minutes">60</length>
    <icon src="http://img.example/p/1.jpg"/>
    <url>http://example.com/news</url>
    <country>RU</country>
    <episode-num system="xmltv_ns">2.9.</episode-num>
    <episode-num system="onscreen">S03E10</episode-num>
    <video><colour>yes</colour></video>
    <previously-shown start="20261122060000"/>
    <premiere>First showing</premiere>
    <new/>
    <subtitles type="teletext"/>
    <rating system="RARS"><value>12+</value><icon src="http://img.example/12.png"/></rating>
    <rating system="empty"></rating>
    <star-rating><value>3/5</value></star-rating>
    <review type="text">Good.</review>
  </programme>
  <programme start="20261123070000 +0300" channel="c2.example">
    <new/>
    <title>Out of order</title>
    <length units="hours">2</length>
  </programme>
</tv>
"#;

#[test]
fn reads_a_full_sample() {
    let (items, err) = read_all(SAMPLE.as_bytes());
    assert_eq!(err, None);
    assert_eq!(items.len(), 5, "{items:#?}");
    let Item::Channel(c1) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!(
        c1,
        &Channel {
            id: "c1.example".into(),
            display_names: vec![tl("ru", "Первый"), tl("en", "First")],
            icons: vec![
                Icon {
                    src: "http://icons.example/1.png".into(),
                    width: Some(64),
                    height: Some(48)
                },
                Icon {
                    src: "http://icons.example/1b.png".into(),
                    width: None,
                    height: None
                },
            ],
            urls: vec!["http://c1.example/".into()],
            line: 4,
        }
    );
    let Item::Channel(c2) = &items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(c2.id, "c2.example");
    assert_eq!(c2.line, 15);
    let Item::Skipped(s) = &items[2] else {
        panic!("{:?}", items[2])
    };
    assert_eq!((s.line, s.element), (16, "channel"));
    assert!(s.message.contains("id"), "{s:?}");

    let Item::Programme(p) = &items[3] else {
        panic!("{:?}", items[3])
    };
    assert_eq!(p.channel, "c1.example");
    assert_eq!(p.line, 17);
    assert_eq!(p.start, XmltvTime::parse("20261123060000 +0300").unwrap());
    assert_eq!(
        p.stop,
        Some(XmltvTime::parse("20261123070000 +0300").unwrap())
    );
    assert_eq!(
        p.titles,
        vec![tl("ru", "Новости"), tl("en", "News & weather")]
    );
    assert_eq!(p.sub_titles, vec![tl("en", "Morning")]);
    assert_eq!(p.descs, vec![tl("en", "The morning news.")]);
    let credit = |kind: &str, name: &str, role: Option<&str>| Credit {
        kind: kind.into(),
        name: name.into(),
        role: role.map(Into::into),
    };
    assert_eq!(
        p.credits,
        vec![
            credit("director", "Jane Doe", None),
            credit("actor", "Ann Smith", Some("Herself")),
            credit("actor", "Bob", None),
            credit("presenter", "Carl", None),
        ]
    );
    assert_eq!(p.date.as_deref(), Some("2019"));
    assert_eq!(p.categories, vec![tl("en", "News"), tl("ru", "Новости")]);
    assert_eq!(p.keywords, vec![tl("en", "daily")]);
    assert_eq!(p.countries, vec![t("RU")]);
    assert_eq!(
        p.episode_nums,
        vec![
            EpisodeNum {
                system: Some("xmltv_ns".into()),
                value: "2.9.".into()
            },
            EpisodeNum {
                system: Some("onscreen".into()),
                value: "S03E10".into()
            },
        ]
    );
    assert_eq!(p.episode(), Some((Some(3), Some(10))));
    assert_eq!(
        p.icons,
        vec![Icon {
            src: "http://img.example/p/1.jpg".into(),
            width: None,
            height: None
        }]
    );
    assert_eq!(
        p.ratings,
        vec![Rating {
            system: Some("RARS".into()),
            value: "12+".into()
        }]
    );
    assert_eq!(p.star_rating.as_deref(), Some("3/5"));
    assert_eq!(p.length_secs, Some(3600));
    assert!(p.premiere && p.new && p.previously_shown);

    let Item::Programme(p) = &items[4] else {
        panic!("{:?}", items[4])
    };
    assert_eq!(p.titles, vec![t("Out of order")]);
    assert_eq!(p.stop, None);
    assert_eq!(p.length_secs, Some(7200));
    assert!(p.new && !p.premiere && !p.previously_shown);
    assert_eq!(p.line, 52);

    let s = check(SAMPLE.as_bytes()).unwrap();
    assert_eq!((s.channels, s.programmes, s.skipped.len()), (2, 2, 1));
    assert_eq!(s.bytes, SAMPLE.len() as u64);
}

#[test]
fn programmes_serialise_to_json_and_back() {
    let (items, _) = read_all(SAMPLE.as_bytes());
    for p in programmes(&items) {
        let json = serde_json::to_string(p).unwrap();
        let back: Programme = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, p);
    }
}

#[test]
fn every_time_form() {
    let d = |y, m, day, h, mi, s| {
        NaiveDate::from_ymd_opt(y, m, day)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    };
    let cases = [
        (
            "20261123153045 +0300",
            d(2026, 11, 23, 15, 30, 45),
            Some(10800),
        ),
        (
            "20261123153045+0300",
            d(2026, 11, 23, 15, 30, 45),
            Some(10800),
        ),
        (
            "20261123153045 -0230",
            d(2026, 11, 23, 15, 30, 45),
            Some(-9000),
        ),
        (
            "20261123153045 +05:30",
            d(2026, 11, 23, 15, 30, 45),
            Some(19800),
        ),
        ("20261123153045 Z", d(2026, 11, 23, 15, 30, 45), Some(0)),
        ("20261123153045 UTC", d(2026, 11, 23, 15, 30, 45), Some(0)),
        ("20261123153045 GMT", d(2026, 11, 23, 15, 30, 45), Some(0)),
        ("20261123153045", d(2026, 11, 23, 15, 30, 45), None),
        ("202611231530 +0100", d(2026, 11, 23, 15, 30, 0), Some(3600)),
        ("2026112315", d(2026, 11, 23, 15, 0, 0), None),
        ("20261123 +0100", d(2026, 11, 23, 0, 0, 0), Some(3600)),
        ("202611", d(2026, 11, 1, 0, 0, 0), None),
        ("2026", d(2026, 1, 1, 0, 0, 0), None),
    ];
    let mut body = String::new();
    for (s, local, offset) in cases {
        let parsed = XmltvTime::parse(s).unwrap();
        assert_eq!(parsed.local, local, "{s}");
        assert_eq!(parsed.offset_secs, offset, "{s}");
        body.push_str(&prog(s, s));
    }
    // The same through documents.
    let (items, err) = read_all(doc(&body).as_bytes());
    assert_eq!(err, None);
    let ps = programmes(&items);
    assert_eq!(ps.len(), cases.len());
    for (p, (s, local, offset)) in ps.iter().zip(cases) {
        assert_eq!(p.titles[0].value, s);
        assert_eq!((p.start.local, p.start.offset_secs), (local, offset));
    }
    for bad in [
        "",
        "2026-11-23",
        "20261301000000",
        "20261123153045 +3",
        "20261123 EST",
    ] {
        assert!(XmltvTime::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn to_utc_with_written_and_default_zones() {
    let utc = |s: &str, z: &DefaultZone| XmltvTime::parse(s).unwrap().to_utc(z);
    // 2026-11-23 12:00:00 UTC
    let noon = 1_795_435_200;
    assert_eq!(utc("20261123150000 +0300", &DefaultZone::UTC), noon);
    assert_eq!(
        utc("20261123150000 +03:00", &DefaultZone::Offset(-7200)),
        noon
    );
    assert_eq!(utc("20261123120000 Z", &DefaultZone::Offset(3600)), noon);
    assert_eq!(utc("20261123120000", &DefaultZone::UTC), noon);
    assert_eq!(utc("20261123150000", &DefaultZone::Offset(10800)), noon);
    let moscow = DefaultZone::Named(chrono_tz::Europe::Moscow);
    assert_eq!(utc("20261123150000", &moscow), noon);
    // A written zone wins over the default one.
    assert_eq!(utc("20261123120000 +0000", &moscow), noon);
}

#[test]
fn dst_in_a_named_zone() {
    let berlin = DefaultZone::Named(chrono_tz::Europe::Berlin);
    let utc = |s: &str| XmltvTime::parse(s).unwrap().to_utc(&berlin);
    let at = |y, m, d, h, mi| {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    };
    // Winter (CET, +1) and summer (CEST, +2).
    assert_eq!(utc("20260115120000"), at(2026, 1, 15, 11, 0));
    assert_eq!(utc("20260715120000"), at(2026, 7, 15, 10, 0));
    // Fall back on 2026-10-25: 02:00–03:00 happens twice; the earlier
    // instant (still CEST) is taken.
    assert_eq!(utc("20261025023000"), at(2026, 10, 25, 0, 30));
    assert_eq!(utc("20261025020000"), at(2026, 10, 25, 0, 0));
    assert_eq!(utc("20261025030000"), at(2026, 10, 25, 2, 0));
    // Spring forward on 2026-03-29: 02:00–03:00 does not exist; 02:30 is
    // moved forward by the hour, to 03:30 CEST.
    assert_eq!(utc("20260329023000"), at(2026, 3, 29, 1, 30));
    assert_eq!(utc("20260329023000"), utc("20260329033000"));
    assert_eq!(utc("20260329015959"), at(2026, 3, 29, 0, 59) + 59);
    assert_eq!(utc("20260329030000"), at(2026, 3, 29, 1, 0));
    // An offset written in the document still wins.
    assert_eq!(utc("20261025023000 +0100"), at(2026, 10, 25, 1, 30));
}

#[test]
fn episode_numbers() {
    let body: String = [
        ("2.9.", "xmltv_ns"),
        (" . 4 . ", "xmltv_ns"),
        ("0/3 . 11/20 . 0/1", "xmltv_ns"),
        ("S01E01", "onscreen"),
        ("s2 e7", "onscreen"),
        ("E05", "onscreen"),
        ("EP012345.0001", "dd_progid"),
    ]
    .iter()
    .map(|(v, sys)| {
        format!(
            "<programme start=\"2026\" channel=\"c\"><title>x</title>\
             <episode-num system=\"{sys}\">{v}</episode-num></programme>\n"
        )
    })
    .collect();
    let (items, err) = read_all(doc(&body).as_bytes());
    assert_eq!(err, None);
    let got: Vec<_> = programmes(&items).iter().map(|p| p.episode()).collect();
    assert_eq!(
        got,
        vec![
            Some((Some(3), Some(10))),
            Some((None, Some(5))),
            Some((Some(1), Some(12))),
            Some((Some(1), Some(1))),
            Some((Some(2), Some(7))),
            Some((None, Some(5))),
            None,
        ]
    );
}

#[test]
fn entities_and_cdata() {
    let d = doc(concat!(
        "<channel id=\"a&amp;b &#x41;&#66; Tom & Jerry\"><display-name>&lt;One&gt; &quot;&apos;&#1046;&#x1F600;</display-name></channel>\n",
        "<programme start=\"2026\" channel=\"c\"><title><![CDATA[a < b & c]]> and &amp; <![CDATA[]]>more</title>",
        "<desc>Lone & ampersand</desc></programme>\n",
    ));
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None, "{items:?}");
    let Item::Channel(c) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(c.id, "a&b AB Tom & Jerry");
    assert_eq!(c.display_names, vec![t("<One> \"'Ж😀")]);
    let ps = programmes(&items);
    assert_eq!(ps[0].titles, vec![t("a < b & c and & more")]);
    assert_eq!(ps[0].descs, vec![t("Lone & ampersand")]);
}

#[test]
fn windows_1251_and_latin1_documents() {
    // "Канал" and "Новости" in windows-1251.
    let kanal: &[u8] = &[0xCA, 0xE0, 0xED, 0xE0, 0xEB];
    let novosti: &[u8] = &[0xCD, 0xEE, 0xE2, 0xEE, 0xF1, 0xF2, 0xE8];
    let mut d = b"<?xml version=\"1.0\" encoding=\"windows-1251\"?>\n<tv>\n<channel id=\"".to_vec();
    d.extend_from_slice(kanal);
    d.extend_from_slice(b"\"><display-name lang=\"ru\">");
    d.extend_from_slice(kanal);
    d.extend_from_slice(
        b" 1</display-name></channel>\n<programme start=\"2026\" channel=\"x\"><title>",
    );
    d.extend_from_slice(novosti);
    d.extend_from_slice(b" &amp; ");
    d.extend_from_slice(kanal);
    d.extend_from_slice(b"</title></programme>\n</tv>\n");
    let (items, err) = read_all(&d);
    assert_eq!(err, None);
    let Item::Channel(c) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(c.id, "Канал");
    assert_eq!(c.display_names, vec![tl("ru", "Канал 1")]);
    assert_eq!(programmes(&items)[0].titles, vec![t("Новости & Канал")]);

    let d = b"<?xml version='1.0' encoding='ISO-8859-1'?><tv><programme start='2026' channel='x'><title>Caf\xE9 cr\xE8me</title></programme></tv>";
    let (items, err) = read_all(d);
    assert_eq!(err, None);
    assert_eq!(programmes(&items)[0].titles, vec![t("Café crème")]);
}

#[test]
fn utf8_bom_is_ignored() {
    let mut d = b"\xEF\xBB\xBF".to_vec();
    d.extend_from_slice(doc(&prog("2026", "x")).as_bytes());
    let s = check(&d[..]).unwrap();
    assert_eq!(s.programmes, 1);
}

fn temp_guide(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn gzip_xz_and_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..2000)
        .map(|i| prog("20261123000000 +0000", &format!("Show {i}")))
        .collect();
    let d = doc(&body);
    let (first, second) = d.as_bytes().split_at(d.len() / 2);

    let mut gz = Vec::new();
    for part in [first, second] {
        // Two gzip members, as `cat a.gz b.gz` makes.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap();
        gz.extend(enc.finish().unwrap());
    }
    let mut xz = Vec::new();
    for part in [first, second] {
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(part).unwrap();
        xz.extend(enc.finish().unwrap());
    }
    for (name, bytes) in [
        ("g.xml", d.as_bytes()),
        ("g.xml.gz", &gz[..]),
        ("g.xz", &xz[..]),
    ] {
        let path = temp_guide(&dir, name, bytes);
        let s = check(input::open_file(&path).unwrap()).unwrap();
        assert_eq!((s.programmes, s.skipped.len()), (2000, 0), "{name}");
        assert_eq!(s.bytes, d.len() as u64, "{name}");
        // The checksum is of the bytes on disk.
        let sum = input::sha256_file(&path).unwrap();
        assert_eq!(sum.len(), 64);
    }
    // A file that only looks like gzip fails with an error, not a panic.
    let path = temp_guide(&dir, "bad.gz", b"\x1f\x8b\x08\x00garbage");
    assert!(check(input::open_file(&path).unwrap()).is_err());
}

#[test]
fn truncated_document_is_fatal_after_complete_programmes() {
    let full = doc(&(prog("2026", "one") + &prog("2026", "two") + &prog("2026", "three")));
    let cut = &full[..full.find("three").unwrap()];
    let (items, err) = read_all(cut.as_bytes());
    assert_eq!(programmes(&items).len(), 2);
    let err = err.expect("fatal");
    assert_eq!(err.line, 5);
    assert!(err.to_string().starts_with("line 5: "), "{err}");
    assert!(err.message.contains("truncated"), "{err}");

    // Cut between programmes, and cut inside a tag.
    for cut in [
        full.find("<programme").unwrap(),
        full.len() - 8,
        full.len() - 3,
    ] {
        let (_, err) = read_all(&full.as_bytes()[..cut]);
        assert!(err.is_some(), "{:?}", &full[..cut]);
    }
    // Errors stay: the next call returns the same error.
    let mut r = XmltvReader::new(cut.as_bytes());
    while let Ok(Some(_)) = r.next_item() {}
    let e1 = r.next_item().unwrap_err();
    let e2 = r.next_item().unwrap_err();
    assert_eq!(e1, e2);
}

#[test]
fn root_must_be_tv() {
    for (d, what) in [
        ("<html><body>Not found</body></html>", "html"),
        ("<?xml version=\"1.0\"?>\n<!-- c -->\n<rss/>", "rss"),
        ("", "no <tv>"),
        ("{\"error\": \"nope\"}", "no <tv>"),
    ] {
        let (items, err) = read_all(d.as_bytes());
        assert!(items.is_empty());
        let err = err.unwrap_or_else(|| panic!("{d:?}"));
        assert!(err.message.contains(what), "{d:?}: {err}");
    }
    let err = check(&b"\n\n<html>"[..]).unwrap_err();
    assert_eq!(err.line, 3);
    // An empty guide is fine.
    assert_eq!(check(&b"<tv/>"[..]).unwrap().programmes, 0);
    assert_eq!(check(&b"<tv></tv>"[..]).unwrap().programmes, 0);
}

#[test]
fn billion_laughs_is_not_expanded() {
    let mut d = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE tv [\n  <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        let refs = format!("&{prev};").repeat(10);
        d.push_str(&format!("  <!ENTITY lol{i} \"{refs}\">\n"));
    }
    d.push_str("]>\n<tv>\n");
    d.push_str("<programme start=\"2026\" channel=\"c\"><title>&lol9;</title></programme>\n");
    d.push_str("<programme start=\"2026\" channel=\"&lol9;\"><title>x</title></programme>\n");
    d.push_str("<programme start=\"2026\" channel=\"c\"><title>ok</title></programme>\n");
    d.push_str("</tv>\n");
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None);
    let sk = skipped(&items);
    assert_eq!(sk.len(), 2);
    assert_eq!(sk[0].line, 15);
    assert_eq!(sk[1].line, 16);
    for s in sk {
        assert!(s.message.contains("&lol9;"), "{s:?}");
        assert_eq!(s.element, "programme");
    }
    assert_eq!(programmes(&items)[0].titles, vec![t("ok")]);
}

#[test]
fn huge_title_is_skipped_and_reading_goes_on() {
    let mut d = String::from("<tv>\n");
    d.push_str(&prog("2026", "before"));
    d.push_str("<programme start=\"2026\" channel=\"c\">\n<title>");
    d.push_str(&"x".repeat(10 << 20));
    d.push_str("</title></programme>\n");
    d.push_str(&prog("2026", "after"));
    d.push_str("</tv>");
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None);
    assert_eq!(items.len(), 3);
    let sk = skipped(&items);
    assert_eq!(sk.len(), 1);
    assert_eq!(sk[0].line, 3);
    assert!(
        sk[0].message.contains("longer than 65536 bytes"),
        "{:?}",
        sk[0]
    );
    assert!(sk[0].message.contains("<title>"), "{:?}", sk[0]);
    let ps = programmes(&items);
    assert_eq!(ps[1].titles, vec![t("after")]);
    assert_eq!(ps[1].line, 5);

    // A smaller limit, and many small texts adding up.
    let limits = Limits {
        max_text_bytes: 10,
        ..Limits::default()
    };
    let d = doc("<programme start=\"2026\" channel=\"c\"><title>0123456789</title><desc>0123456789&amp;</desc></programme>");
    let (items, _) = read_all_with(d.as_bytes(), limits);
    assert!(skipped(&items)[0].message.contains("<desc>"), "{items:?}");
}

#[test]
fn too_many_children_is_skipped() {
    let limits = Limits {
        max_items_per_programme: 50,
        ..Limits::default()
    };
    let many = "<category>c</category>".repeat(51);
    let d = doc(&format!(
        "<programme start=\"2026\" channel=\"c\"><title>t</title>{many}</programme>\n{}",
        prog("2026", "next")
    ));
    let (items, err) = read_all_with(d.as_bytes(), limits);
    assert_eq!(err, None);
    assert!(
        skipped(&items)[0].message.contains("more than 50"),
        "{items:?}"
    );
    assert_eq!(programmes(&items).len(), 1);
    // The default allows 1000.
    let (items, _) = read_all(d.as_bytes());
    assert_eq!(programmes(&items)[0].categories.len(), 51);
}

#[test]
fn bad_attributes_skip_the_programme_with_its_line() {
    let d = doc(concat!(
        "<programme start=\"2026\"><title>no channel</title></programme>\n",
        "<programme start=\"tomorrow\" channel=\"c\"><title>bad start</title></programme>\n",
        "<programme channel=\"c\">\n<title>no start</title></programme>\n",
        "<programme start=\"2026\" stop=\"later\" channel=\"c\"><title>bad stop</title></programme>\n",
        "<programme start=\"2026\" channel=\"\"><title>empty channel</title></programme>\n",
        "<programme start=\"2026\" channel=c><title>unquoted</title></programme>\n",
        "<programme start=\"20261123000000 +0100\" channel=\"c\"/>\n",
    ));
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None);
    let sk = skipped(&items);
    let lines: Vec<u64> = sk.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 8, 9]);
    assert!(sk[0].message.contains("channel"), "{:?}", sk[0]);
    assert!(sk[1].message.contains("tomorrow"), "{:?}", sk[1]);
    assert!(sk[2].message.contains("start"), "{:?}", sk[2]);
    let ps = programmes(&items);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].titles, vec![t("bad stop")]);
    assert_eq!(ps[0].stop, None);
    assert!(ps[1].titles.is_empty());
}

#[test]
fn invalid_bytes_and_characters() {
    let mut d = b"<tv>\n<programme start=\"2026\" channel=\"c\"><title>bad \xFF\xFE utf-8</title></programme>\n".to_vec();
    d.extend_from_slice(
        b"<programme start=\"2026\" channel=\"c\"><title>bell \x07</title></programme>\n",
    );
    d.extend_from_slice(
        b"<programme start=\"2026\" channel=\"c\"><title>ref &#1;</title></programme>\n",
    );
    d.extend_from_slice(
        b"<programme start=\"2026\" channel=\"c\"><title>ref &#xD800;</title></programme>\n",
    );
    d.extend_from_slice(
        b"<programme start=\"2026\" channel=\"c\xC3\"><title>x</title></programme>\n",
    );
    d.extend_from_slice(
        b"<programme start=\"2026\" channel=\"c\"><title>x</title></progr\xFFamme>\n",
    );
    d.extend_from_slice(b"<programme start=\"2026\" channel=\"c\"><title>fine</title><review>\x01 ignored</review></programme>\n");
    d.extend_from_slice(b"</tv>\n");
    let (items, err) = read_all(&d);
    assert_eq!(err, None, "{items:#?}");
    let sk = skipped(&items);
    assert_eq!(
        sk.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6, 7]
    );
    assert!(sk[1].message.contains("U+0007"), "{:?}", sk[1]);
    assert!(sk[2].message.contains("&#1;"), "{:?}", sk[2]);
    let ps = programmes(&items);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].titles, vec![t("fine")]);
}

#[test]
fn mismatched_end_tag_inside_a_programme_is_skipped() {
    let d = doc(&format!(
        "<programme start=\"2026\" channel=\"c\"><title>x</titel></programme>\n{}",
        prog("2026", "next")
    ));
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None, "{items:?}");
    assert!(skipped(&items)[0].message.contains("</titel>"), "{items:?}");
    assert_eq!(programmes(&items)[0].titles, vec![t("next")]);
    // A mismatch that breaks the root is fatal.
    assert!(check(&b"<tv><programme start='2026' channel='c'></tv>"[..]).is_err());
}

#[test]
fn unknown_elements_and_nesting_are_ignored() {
    let d = doc(concat!(
        "<foo><programme start=\"2026\" channel=\"c\"><title>hidden</title></programme></foo>\n",
        "<bar/>\n",
        "stray text &amp; more\n",
        "<programme start=\"2026\" channel=\"c\"><title>a<b>bold</b>c</title><x:y xmlns:x=\"u\">z</x:y></programme>\n",
    ));
    let (items, err) = read_all(d.as_bytes());
    assert_eq!(err, None);
    assert_eq!(items.len(), 1);
    assert_eq!(programmes(&items)[0].titles, vec![t("ac")]);
}

#[test]
fn position_and_lines_with_crlf() {
    let d = "<tv>\r\n<programme start=\"2026\" channel=\"c\">\r\n<desc>one\r\ntwo</desc></programme>\r\n<programme start=\"2026\" channel=\"c\"/>\r\n</tv>\r\n";
    let mut r = XmltvReader::new(d.as_bytes());
    let Some(Item::Programme(p)) = r.next_item().unwrap() else {
        panic!()
    };
    assert_eq!(p.line, 2);
    assert_eq!(p.descs, vec![t("one\ntwo")]);
    let mid = r.position();
    assert!(mid > 0 && mid < d.len() as u64);
    let Some(Item::Programme(p)) = r.next_item().unwrap() else {
        panic!()
    };
    assert_eq!(p.line, 5);
    assert_eq!(r.next_item().unwrap(), None);
    assert_eq!(r.next_item().unwrap(), None);
    assert_eq!(r.position(), d.len() as u64);
}

/// A deterministic xorshift generator, so the "fuzz" test is repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let mut base = SAMPLE.as_bytes().to_vec();
    base.extend_from_slice(
        b"<!DOCTYPE x [<!ENTITY a \"&b;&b;\">]><![CDATA[x]]>&#x41;&amp;&lol;<?pi x?>\xFF",
    );
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let started = std::time::Instant::now();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let mut d = base.clone();
        for _ in 0..1 + rng.below(4) {
            let len = d.len();
            match rng.below(7) {
                0 => {
                    let i = rng.below(len);
                    d[i] ^= 1 << rng.below(8);
                }
                1 => d.truncate(rng.below(len)),
                2 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(200)).min(len);
                    let slice = d[a..b].to_vec();
                    let at = rng.below(len);
                    d.splice(at..at, slice);
                }
                3 => {
                    let at = rng.below(len);
                    let c = [b'<', b'&', b'"', b'\'', b'>', b'/', b';', 0][rng.below(8)];
                    d.insert(at, c);
                }
                4 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(50)).min(len);
                    d.drain(a..b);
                }
                5 => {
                    let i = rng.below(len);
                    d[i] = rng.next() as u8;
                }
                _ => {
                    let at = rng.below(len);
                    let piece: &[u8] = [
                        &b"<programme start=\"2026\" channel=\"c\">"[..],
                        b"</programme>",
                        b"<title>",
                        b"]]>",
                        b"<!--",
                        b"&#x110000;",
                    ][rng.below(6)];
                    d.splice(at..at, piece.iter().copied());
                }
            }
            if d.is_empty() {
                break;
            }
        }
        match check(&d[..]) {
            Ok(s) => {
                assert!(s.bytes <= d.len() as u64);
                ok += 1;
            }
            Err(e) => {
                assert!(e.line >= 1 && !e.message.is_empty());
                err += 1;
            }
        }
    }
    assert_eq!(ok + err, 3000);
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
    assert!(started.elapsed().as_secs() < 60);
}

mod download {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;

    const GUIDE: &[u8] =
        b"<tv><programme start=\"2026\" channel=\"c\"><title>x</title></programme></tv>\n";

    async fn server() -> String {
        let app = Router::new()
            .route("/guide.xml", get(|| async { GUIDE }))
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "no such guide") }),
            )
            .route("/big", get(|| async { vec![b'x'; 100_000] }))
            .route(
                "/stream",
                get(|| async {
                    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 10_000]));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn entries(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn downloads_checks_status_and_limits() {
        let base = server().await;
        let client = reqwest::Client::new();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("guide.xml");

        let got = input::download(&client, &format!("{base}/guide.xml"), &dest, 1 << 20)
            .await
            .unwrap();
        assert_eq!(got.bytes, GUIDE.len() as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), GUIDE);
        assert_eq!(got.sha256, input::sha256_file(&dest).unwrap());
        assert_eq!(entries(dir.path()), vec!["guide.xml"]);
        assert_eq!(
            check(input::open_file(&dest).unwrap()).unwrap().programmes,
            1
        );

        // Replaces what is at dest.
        std::fs::write(&dest, b"old").unwrap();
        input::download(&client, &format!("{base}/guide.xml"), &dest, 1 << 20)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), GUIDE);
        std::fs::remove_file(&dest).unwrap();

        let e = input::download(&client, &format!("{base}/missing"), &dest, 1 << 20)
            .await
            .unwrap_err();
        assert!(matches!(e, InputError::Status { .. }), "{e}");
        assert!(e.to_string().contains("404"), "{e}");

        // Content-Length over the limit: refused before writing.
        let e = input::download(&client, &format!("{base}/big"), &dest, 1000)
            .await
            .unwrap_err();
        assert!(matches!(e, InputError::TooLarge { limit: 1000, .. }), "{e}");
        // Chunked, no length: stopped while streaming, temp file removed.
        let e = input::download(&client, &format!("{base}/stream"), &dest, 55_555)
            .await
            .unwrap_err();
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
        // Within the limit the stream is fine.
        let got = input::download(&client, &format!("{base}/stream"), &dest, 1_000_000)
            .await
            .unwrap();
        assert_eq!(got.bytes, 1_000_000);
        std::fs::remove_file(&dest).unwrap();

        for bad in ["ftp://example.com/g.xml", "not a url", "file:///etc/passwd"] {
            let e = input::download(&client, bad, &dest, 1000)
                .await
                .unwrap_err();
            assert!(matches!(e, InputError::BadUrl { .. }), "{e}");
        }
        // Nothing listens there.
        let e = input::download(&client, "http://127.0.0.1:9/g.xml?key=secret", &dest, 1000)
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(entries(dir.path()).is_empty());
    }
}
