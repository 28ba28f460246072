//! XMLTV export on SQLite and PostgreSQL: the document parsed back (well
//! formed, DTD order, escaping, languages, window, channel selection),
//! paging over many programmes, `xmllint` when installed, atomic files and
//! unknown operators.

use std::path::Path;

use efir_epg::export::{export, export_to_file, PAGE};
use efir_epg::EpgError;
use efir_store::clients::{Client, NewClient};
use efir_store::testing::TestDb;
use efir_store::{with_db, Actor, Store};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;

const DAY: i64 = 86_400;

/// Start of today (UTC), as the export computes it.
fn today() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(DAY) * DAY
}

/// `YYYYMMDDhhmmss +0000`.
fn xmltv_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y%m%d%H%M%S +0000")
        .to_string()
}

// ---------------------------------------------------------------- parsing

/// An element of the parsed document.
#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn one(&self, name: &str) -> &Node {
        let found: Vec<&Node> = self.children.iter().filter(|c| c.name == name).collect();
        assert_eq!(found.len(), 1, "one <{name}> in <{}>: {self:#?}", self.name);
        found[0]
    }

    /// Text of the child `name` with `lang` (None: without a lang).
    fn text_in(&self, name: &str, lang: Option<&str>) -> Option<&str> {
        self.children
            .iter()
            .find(|c| c.name == name && c.attr("lang") == lang)
            .map(|c| c.text.as_str())
    }
}

/// What parsing the document found besides the tree.
struct Parsed {
    root: Node,
    has_decl: bool,
    doctype: String,
    elements: usize,
}

/// Parses `xml` with quick-xml, failing the test on anything malformed.
fn parse(xml: &str) -> Parsed {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut has_decl = false;
    let mut doctype = String::new();
    let mut elements = 0;
    let decoder = reader.decoder();
    let node_of = |e: &quick_xml::events::BytesStart| -> Node {
        Node {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.expect("well-formed attribute");
                    (
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                        a.decode_and_unescape_value(decoder)
                            .expect("attribute escape")
                            .into_owned(),
                    )
                })
                .collect(),
            ..Node::default()
        }
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Decl(d) => {
                has_decl = true;
                assert_eq!(&*d.version().unwrap(), b"1.0");
                assert_eq!(&*d.encoding().unwrap().unwrap(), b"UTF-8");
            }
            Event::DocType(d) => doctype = d.decode().unwrap().trim().to_string(),
            Event::Start(e) => {
                elements += 1;
                stack.push(node_of(&e));
            }
            Event::Empty(e) => {
                elements += 1;
                let node = node_of(&e);
                stack.last_mut().unwrap().children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => {
                let text = t.decode().unwrap();
                stack.last_mut().unwrap().text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        quick_xml::escape::unescape(&format!("&{name};"))
                            .expect("known entity")
                            .into_owned()
                    }
                };
                stack.last_mut().unwrap().text.push_str(&c);
            }
            Event::CData(c) => {
                let text = String::from_utf8(c.into_inner().into_owned()).unwrap();
                stack.last_mut().unwrap().text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    let mut root = doc.children.remove(0);
    trim(&mut root);
    Parsed {
        root,
        has_decl,
        doctype,
        elements,
    }
}

/// Drops the indentation around elements.
fn trim(node: &mut Node) {
    if !node.children.is_empty() {
        node.text = node.text.trim().to_string();
    }
    for c in &mut node.children {
        trim(c);
    }
}

/// Children of `<programme>` in the DTD's order.
const PROGRAMME_ORDER: &[&str] = &[
    "title",
    "sub-title",
    "desc",
    "credits",
    "date",
    "category",
    "keyword",
    "language",
    "orig-language",
    "length",
    "icon",
    "url",
    "country",
    "episode-num",
    "video",
    "audio",
    "previously-shown",
    "premiere",
    "last-chance",
    "new",
    "subtitles",
    "rating",
    "star-rating",
    "review",
    "image",
];

/// Children of `<credits>` in the DTD's order.
const CREDITS_ORDER: &[&str] = &[
    "director",
    "actor",
    "writer",
    "adapter",
    "producer",
    "composer",
    "editor",
    "presenter",
    "commentator",
    "guest",
];

/// Fails unless the children of `node` follow `order` (each name at most
/// where the DTD puts it).
fn assert_order(node: &Node, order: &[&str]) {
    let mut at = 0;
    for c in &node.children {
        let pos = order
            .iter()
            .position(|n| *n == c.name)
            .unwrap_or_else(|| panic!("<{}> is not allowed in <{}>", c.name, node.name));
        assert!(
            pos >= at,
            "<{}> out of DTD order in <{}>: {:?}",
            c.name,
            node.name,
            node.children.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        at = pos;
    }
}

/// The DTD's structure checks this test cares about.
fn assert_dtd_shape(root: &Node) {
    assert_eq!(root.name, "tv");
    assert_eq!(root.attr("generator-info-name"), Some("Efir"));
    let mut seen_programme = false;
    for c in &root.children {
        match c.name.as_str() {
            "channel" => {
                assert!(!seen_programme, "a channel after a programme");
                assert_order(c, &["display-name", "icon", "url"]);
                assert!(c.all("display-name").count() >= 1);
                assert!(c.attr("id").is_some());
            }
            "programme" => {
                seen_programme = true;
                assert_order(c, PROGRAMME_ORDER);
                assert!(c.all("title").count() >= 1, "title+");
                assert!(c.attr("start").is_some() && c.attr("channel").is_some());
                for credits in c.all("credits") {
                    assert_order(credits, CREDITS_ORDER);
                }
                for optional in ["credits", "date", "premiere", "new", "previously-shown"] {
                    assert!(c.all(optional).count() <= 1, "{optional}?");
                }
            }
            other => panic!("<{other}> in <tv>"),
        }
    }
}

/// Runs `xmllint --noout` on `path` when it is installed.
fn xmllint(path: &Path) {
    let Ok(out) = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg(path)
        .output()
    else {
        return;
    };
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- fixtures

async fn new_client(store: &Store, prefix: &str, languages: &[&str]) -> Client {
    let mut tx = store.begin(Actor::System("test".into())).await.unwrap();
    let client = store
        .create_client(
            &mut tx,
            &NewClient {
                name: format!("{prefix} TV"),
                api_key: format!("{prefix}-device-key-01"),
                domain_prefix: prefix.into(),
                email: format!("ops@{prefix}.tv"),
                default_language: Some("en".into()),
                languages: languages.iter().map(|l| l.to_string()).collect(),
                ..NewClient::default()
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    client
}

/// Runs an INSERT … RETURNING id with text and integer arguments.
async fn insert(store: &Store, sql: &str, args: Vec<Arg>) -> i64 {
    with_db!(store.pool(), p => {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in &args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::N(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.clone()),
                Arg::OS(v) => q.bind(v.clone()),
                Arg::B(v) => q.bind(*v),
            };
        }
        q.fetch_one(p).await
    })
    .unwrap()
}

enum Arg {
    I(i64),
    N(Option<i64>),
    S(String),
    OS(Option<String>),
    B(bool),
}

fn s(v: &str) -> Arg {
    Arg::S(v.to_string())
}

async fn epg_source(store: &Store, name: &str, client_id: Option<i64>) -> i64 {
    insert(
        store,
        "INSERT INTO epg_source (client_id, name, url, created_at, updated_at) \
         VALUES ($1, $2, 'file:///dev/null', 0, 0) RETURNING id",
        vec![Arg::N(client_id), s(name)],
    )
    .await
}

async fn epg_channel(store: &Store, source: i64, ext_id: &str) -> i64 {
    insert(
        store,
        "INSERT INTO epg_channel (source_id, ext_id, name, created_at, updated_at) \
         VALUES ($1, $2, $2, 0, 0) RETURNING id",
        vec![Arg::I(source), s(ext_id)],
    )
    .await
}

struct NewChannel<'a> {
    client: i64,
    name: &'a str,
    name_lang1: Option<&'a str>,
    icon: &'a str,
    epg_channel: Option<i64>,
    enabled: bool,
    sort: i64,
}

async fn channel(store: &Store, c: NewChannel<'_>) -> i64 {
    insert(
        store,
        "INSERT INTO channel (client_id, name, name_lang1, icon, epg_channel_id, enabled, sort, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0) RETURNING id",
        vec![
            Arg::I(c.client),
            s(c.name),
            Arg::OS(c.name_lang1.map(str::to_string)),
            s(c.icon),
            Arg::N(c.epg_channel),
            Arg::B(c.enabled),
            Arg::I(c.sort),
        ],
    )
    .await
}

#[derive(Default)]
struct NewProgramme {
    start: i64,
    stop: i64,
    title: String,
    sub_title: String,
    description: String,
    i18n: String,
    category_id: Option<i64>,
    genres: String,
    details: String,
    year: Option<i64>,
    season: Option<i64>,
    episode: Option<i64>,
    icon: String,
    rating: String,
    premiere: bool,
    is_new: bool,
}

async fn programme(store: &Store, epg_channel: i64, p: NewProgramme) -> i64 {
    let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
    insert(
        store,
        "INSERT INTO epg_programme (epg_channel_id, start_at, stop_at, title, sub_title, \
         description, i18n, category_id, genres, details, year, season, episode, icon, rating, \
         premiere, is_new, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, 'h') RETURNING id",
        vec![
            Arg::I(epg_channel),
            Arg::I(p.start),
            Arg::I(p.stop),
            Arg::S(p.title),
            Arg::S(p.sub_title),
            Arg::S(p.description),
            Arg::S(or(p.i18n, "{}")),
            Arg::N(p.category_id),
            Arg::S(or(p.genres, "[]")),
            Arg::S(or(p.details, "{}")),
            Arg::N(p.year),
            Arg::N(p.season),
            Arg::N(p.episode),
            Arg::S(p.icon),
            Arg::S(p.rating),
            Arg::B(p.premiere),
            Arg::B(p.is_new),
        ],
    )
    .await
}

/// What [`fixture`] made.
struct Fixture {
    client: Client,
    other: Client,
    /// Enabled and mapped.
    mapped: i64,
    /// Mapped to the same EPG channel, disabled.
    disabled: i64,
    /// Enabled, without a guide.
    unmapped: i64,
    /// Another operator's channel on the same EPG channel.
    foreign: i64,
    /// An enabled channel mapped to a source of the other operator.
    cross_tenant: i64,
    today: i64,
}

const TITLE: &str = r#"Tom & Jerry <"live"> it's"#;
const SUB_TITLE: &str = "Part <1> & \"2\"";
const DESC: &str = "a < b && c > d; 'quoted' \"double\" ]]> end";
const ICON: &str = "http://img.example/p.png?a=1&b=<2>";

async fn fixture(store: &Store) -> Fixture {
    let client = new_client(store, "exp", &["ru", "uk"]).await;
    let other = new_client(store, "oth", &[]).await;
    let source = epg_source(store, "shared & <co>", None).await;
    let other_source = epg_source(store, "other's own", Some(other.id)).await;
    let epg = epg_channel(store, source, "one.tv").await;
    let other_epg = epg_channel(store, other_source, "secret.tv").await;
    let news = insert(
        store,
        "INSERT INTO epg_category (name, names, created_at) VALUES ($1, $2, 0) RETURNING id",
        vec![s("News & Talk"), s(r#"{"ru": "Новости и <ток>"}"#)],
    )
    .await;

    let mapped = channel(
        store,
        NewChannel {
            client: client.id,
            name: "One & <Two> \"HD\"",
            name_lang1: Some("Первый & второй"),
            icon: "http://icons.example/one.png?x=1&y=2",
            epg_channel: Some(epg),
            enabled: true,
            sort: 2,
        },
    )
    .await;
    let disabled = channel(
        store,
        NewChannel {
            client: client.id,
            name: "Disabled",
            name_lang1: None,
            icon: "",
            epg_channel: Some(epg),
            enabled: false,
            sort: 1,
        },
    )
    .await;
    let unmapped = channel(
        store,
        NewChannel {
            client: client.id,
            name: "No guide",
            name_lang1: None,
            icon: "",
            epg_channel: None,
            enabled: true,
            sort: 0,
        },
    )
    .await;
    let foreign = channel(
        store,
        NewChannel {
            client: other.id,
            name: "Foreign",
            name_lang1: None,
            icon: "",
            epg_channel: Some(epg),
            enabled: true,
            sort: 0,
        },
    )
    .await;
    let cross_tenant = channel(
        store,
        NewChannel {
            client: client.id,
            name: "Cross tenant",
            name_lang1: None,
            icon: "",
            epg_channel: Some(other_epg),
            enabled: true,
            sort: 3,
        },
    )
    .await;

    let today = today();
    // The full programme.
    programme(
        store,
        epg,
        NewProgramme {
            start: today + 3600,
            stop: today + 7200,
            title: TITLE.into(),
            sub_title: SUB_TITLE.into(),
            description: DESC.into(),
            i18n: json!({
                "de": {"title": "Tom & Jerry (de)"},
                "ru": {"title": "Том и Джерри & <ко>", "sub_title": "", "description": "Описание"},
            })
            .to_string(),
            category_id: Some(news),
            genres: json!(["News & Talk", "Kids"]).to_string(),
            details: json!({
                "credits": [
                    {"kind": "actor", "name": "Ann & Bob", "role": "Hero <1>"},
                    {"kind": "writer", "name": "W. Riter", "role": ""},
                    {"kind": "director", "name": "D'Irector", "role": ""},
                    {"kind": "mystery", "name": "Unknown kind", "role": ""},
                ],
                "countries": ["US", "F&R"],
                "keywords": ["cats & mice"],
                "episode_num": "0.1.",
                "star_rating": "7/10",
                "previously_shown": true,
            })
            .to_string(),
            year: Some(2001),
            season: Some(1),
            episode: Some(2),
            icon: ICON.into(),
            rating: "12+".into(),
            premiere: true,
            is_new: true,
        },
    )
    .await;
    // A plain one, category only, episode without a season.
    programme(
        store,
        epg,
        NewProgramme {
            start: today + 7200,
            stop: today + 9000,
            title: "Plain".into(),
            category_id: Some(news),
            episode: Some(5),
            ..NewProgramme::default()
        },
    )
    .await;
    // Running at midnight: overlaps the window.
    programme(
        store,
        epg,
        NewProgramme {
            start: today - 1800,
            stop: today + 1800,
            title: "Over midnight".into(),
            ..NewProgramme::default()
        },
    )
    .await;
    // Yesterday: outside.
    programme(
        store,
        epg,
        NewProgramme {
            start: today - 7200,
            stop: today - 3600,
            title: "Yesterday".into(),
            ..NewProgramme::default()
        },
    )
    .await;
    // After the two days exported: outside.
    programme(
        store,
        epg,
        NewProgramme {
            start: today + 2 * DAY + 3600,
            stop: today + 2 * DAY + 7200,
            title: "Too late".into(),
            ..NewProgramme::default()
        },
    )
    .await;
    // Tomorrow, inside the two days, without a stop.
    programme(
        store,
        epg,
        NewProgramme {
            start: today + DAY + 600,
            stop: 0,
            title: "Tomorrow\u{1} open-ended".into(),
            ..NewProgramme::default()
        },
    )
    .await;
    // The other operator's guide.
    programme(
        store,
        other_epg,
        NewProgramme {
            start: today + 3600,
            stop: today + 7200,
            title: "Secret".into(),
            ..NewProgramme::default()
        },
    )
    .await;
    Fixture {
        client,
        other,
        mapped,
        disabled,
        unmapped,
        foreign,
        cross_tenant,
        today,
    }
}

// ---------------------------------------------------------------- tests

async fn check_export(db: TestDb) {
    let label = db.label;
    let store = &db.store;
    let f = fixture(store).await;

    let mut buf = Vec::new();
    let summary = export(store, f.client.id, 2, &mut buf).await.unwrap();
    let xml = String::from_utf8(buf.clone()).unwrap();
    assert_eq!(summary.bytes, buf.len() as u64, "{label}");
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "{label}: {xml}"
    );
    assert!(
        xml.contains(r#"<!DOCTYPE tv SYSTEM "xmltv.dtd">"#),
        "{label}"
    );

    let parsed = parse(&xml);
    assert!(parsed.has_decl, "{label}");
    assert_eq!(parsed.doctype, r#"tv SYSTEM "xmltv.dtd""#, "{label}");
    let root = &parsed.root;
    assert_dtd_shape(root);
    assert!(parsed.elements > 20, "{label}");

    // Channels: the mapped one only.
    let channels: Vec<&Node> = root.all("channel").collect();
    let ids: Vec<&str> = channels.iter().map(|c| c.attr("id").unwrap()).collect();
    assert_eq!(ids, vec![f.mapped.to_string()], "{label}: {xml}");
    for absent in [f.disabled, f.unmapped, f.foreign, f.cross_tenant] {
        assert!(
            !xml.contains(&format!("\"{absent}\"")),
            "{label}: channel {absent} exported"
        );
    }
    assert_eq!(summary.channels, 1, "{label}");
    let ch = channels[0];
    assert_eq!(
        ch.text_in("display-name", Some("en")),
        Some("One & <Two> \"HD\""),
        "{label}"
    );
    assert_eq!(
        ch.text_in("display-name", Some("ru")),
        Some("Первый & второй"),
        "{label}"
    );
    // name_lang2 (uk) is not set: no display-name for it.
    assert_eq!(ch.all("display-name").count(), 2, "{label}");
    assert_eq!(
        ch.one("icon").attr("src"),
        Some("http://icons.example/one.png?x=1&y=2"),
        "{label}"
    );

    // Programmes: in the window only, by start, all on the mapped channel.
    let programmes: Vec<&Node> = root.all("programme").collect();
    let titles: Vec<&str> = programmes
        .iter()
        .map(|p| p.text_in("title", None).unwrap())
        .collect();
    assert_eq!(
        titles,
        vec!["Over midnight", TITLE, "Plain", "Tomorrow open-ended"],
        "{label}"
    );
    assert_eq!(summary.programmes, 4, "{label}");
    for p in &programmes {
        assert_eq!(p.attr("channel"), Some(f.mapped.to_string().as_str()));
    }
    for absent in ["Yesterday", "Too late", "Secret"] {
        assert!(!xml.contains(absent), "{label}: {absent} exported");
    }

    // The full programme.
    let p = programmes[1];
    assert_eq!(p.attr("start"), Some(xmltv_time(f.today + 3600).as_str()));
    assert_eq!(p.attr("stop"), Some(xmltv_time(f.today + 7200).as_str()));
    assert!(p.attr("start").unwrap().ends_with(" +0000"));
    assert_eq!(p.attr("start").unwrap().len(), "YYYYMMDDhhmmss +0000".len());
    assert_eq!(p.text_in("title", None), Some(TITLE), "{label}");
    assert_eq!(
        p.text_in("title", Some("ru")),
        Some("Том и Джерри & <ко>"),
        "{label}"
    );
    assert_eq!(p.text_in("title", Some("de")), Some("Tom & Jerry (de)"));
    // The operator's languages first, then the others.
    let title_langs: Vec<Option<&str>> = p.all("title").map(|t| t.attr("lang")).collect();
    assert_eq!(title_langs, vec![None, Some("ru"), Some("de")], "{label}");
    assert_eq!(p.text_in("sub-title", None), Some(SUB_TITLE), "{label}");
    assert_eq!(p.all("sub-title").count(), 1, "{label}: empty ru sub-title");
    assert_eq!(p.text_in("desc", None), Some(DESC), "{label}");
    assert_eq!(p.text_in("desc", Some("ru")), Some("Описание"), "{label}");

    let credits = p.one("credits");
    let people: Vec<(&str, &str, Option<&str>)> = credits
        .children
        .iter()
        .map(|c| (c.name.as_str(), c.text.as_str(), c.attr("role")))
        .collect();
    assert_eq!(
        people,
        vec![
            ("director", "D'Irector", None),
            ("actor", "Ann & Bob", Some("Hero <1>")),
            ("writer", "W. Riter", None),
        ],
        "{label}"
    );
    assert_eq!(p.one("date").text, "2001");
    let categories: Vec<(Option<&str>, &str)> = p
        .all("category")
        .map(|c| (c.attr("lang"), c.text.as_str()))
        .collect();
    assert_eq!(
        categories,
        vec![
            (None, "News & Talk"),
            (Some("ru"), "Новости и <ток>"),
            (None, "Kids"),
        ],
        "{label}"
    );
    assert_eq!(p.one("keyword").text, "cats & mice");
    assert_eq!(p.one("icon").attr("src"), Some(ICON), "{label}");
    let countries: Vec<&str> = p.all("country").map(|c| c.text.as_str()).collect();
    assert_eq!(countries, vec!["US", "F&R"]);
    let nums: Vec<(Option<&str>, &str)> = p
        .all("episode-num")
        .map(|e| (e.attr("system"), e.text.as_str()))
        .collect();
    assert_eq!(
        nums,
        vec![(Some("xmltv_ns"), "0.1."), (Some("onscreen"), "S01E02")],
        "{label}"
    );
    p.one("previously-shown");
    p.one("premiere");
    p.one("new");
    assert_eq!(p.one("rating").one("value").text, "12+");
    assert_eq!(p.one("star-rating").one("value").text, "7/10");

    // The plain one: its category, the episode alone.
    let plain = programmes[2];
    let nums: Vec<(Option<&str>, &str)> = plain
        .all("episode-num")
        .map(|e| (e.attr("system"), e.text.as_str()))
        .collect();
    assert_eq!(
        nums,
        vec![(Some("xmltv_ns"), ".4."), (Some("onscreen"), "E05")],
        "{label}"
    );
    assert_eq!(plain.text_in("category", None), Some("News & Talk"));
    for absent in ["premiere", "new", "credits", "date", "rating", "icon"] {
        assert_eq!(plain.all(absent).count(), 0, "{label}: {absent}");
    }
    // Over midnight: original times, even though it starts yesterday.
    assert_eq!(
        programmes[0].attr("start"),
        Some(xmltv_time(f.today - 1800).as_str())
    );
    // Without a stop: no stop attribute; the control character is dropped.
    assert_eq!(programmes[3].attr("stop"), None, "{label}");

    // The other operator sees the shared guide on its own channel.
    let mut buf = Vec::new();
    let other = export(store, f.other.id, 1, &mut buf).await.unwrap();
    let parsed = parse(std::str::from_utf8(&buf).unwrap());
    let ids: Vec<&str> = parsed
        .root
        .all("channel")
        .map(|c| c.attr("id").unwrap())
        .collect();
    assert_eq!(ids, vec![f.foreign.to_string()], "{label}");
    assert_eq!(other.programmes, 3, "{label}: today's three");
    // The operator has no additional language: one display-name.
    let ch = parsed.root.one("channel");
    assert_eq!(ch.all("display-name").count(), 1);
    assert_eq!(ch.text_in("display-name", Some("en")), Some("Foreign"));

    // To a file, checked by xmllint when it is installed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guide.xml");
    std::fs::write(&path, "previous").unwrap();
    let on_disk = export_to_file(store, f.client.id, 2, &path).await.unwrap();
    assert_eq!(on_disk, summary, "{label}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(on_disk.bytes, written.len() as u64, "{label}");
    assert_eq!(written, xml, "{label}: file and stream differ");
    xmllint(&path);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{label}: temporary files left");

    // Days out of range.
    for days in [0, -1, 10_000] {
        let err = export(store, f.client.id, days, Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, EpgError::Invalid(_)), "{label}: {err:?}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn export_sqlite() {
    check_export(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn export_postgres() {
    check_export(TestDb::postgres().await).await;
}

/// More programmes than one page, across several channels.
async fn check_paging(db: TestDb) {
    let label = db.label;
    let store = &db.store;
    let client = new_client(store, "page", &[]).await;
    let source = epg_source(store, "big", None).await;
    let today = today();
    let per_channel = PAGE * 2 + 7;
    let mut expected = Vec::new();
    for n in 0..2 {
        let epg = epg_channel(store, source, &format!("big{n}")).await;
        let id = channel(
            store,
            NewChannel {
                client: client.id,
                name: &format!("Big {n}"),
                name_lang1: None,
                icon: "",
                epg_channel: Some(epg),
                enabled: true,
                sort: n,
            },
        )
        .await;
        expected.push(id);
        // Multi-row inserts, 100 at a time.
        for chunk in (0..per_channel).collect::<Vec<_>>().chunks(100) {
            let values: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let start = today + i * 60;
                    format!("({epg}, {start}, {}, 'P{i}', 'h')", start + 60)
                })
                .collect();
            let sql = format!(
                "INSERT INTO epg_programme (epg_channel_id, start_at, stop_at, title, hash) \
                 VALUES {}",
                values.join(", ")
            );
            with_db!(store.pool(), p => sqlx::query(&sql).execute(p).await.map(|_| ())).unwrap();
        }
    }
    let mut buf = Vec::new();
    let summary = export(store, client.id, 1, &mut buf).await.unwrap();
    assert_eq!(summary.channels, 2, "{label}");
    assert_eq!(summary.programmes as i64, 2 * per_channel, "{label}");
    let parsed = parse(std::str::from_utf8(&buf).unwrap());
    assert_dtd_shape(&parsed.root);
    for (n, id) in expected.iter().enumerate() {
        let starts: Vec<String> = parsed
            .root
            .all("programme")
            .filter(|p| p.attr("channel") == Some(id.to_string().as_str()))
            .map(|p| p.attr("start").unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..per_channel)
            .map(|i| xmltv_time(today + i * 60))
            .collect();
        assert_eq!(starts, want, "{label}: channel {n}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn paging_sqlite() {
    check_paging(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn paging_postgres() {
    check_paging(TestDb::postgres().await).await;
}

/// Unknown operators and unwritable targets fail cleanly.
async fn check_failures(db: TestDb) {
    let label = db.label;
    let store = &db.store;
    let f = fixture(store).await;

    let mut buf = Vec::new();
    let err = export(store, 999_999, 1, &mut buf).await.unwrap_err();
    assert!(matches!(err, EpgError::NotFound(_)), "{label}: {err:?}");
    assert!(buf.is_empty(), "{label}: wrote for an unknown operator");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("guide.xml");
    let err = export_to_file(store, f.client.id, 1, &path)
        .await
        .unwrap_err();
    assert!(matches!(err, EpgError::Io(_)), "{label}: {err:?}");
    assert!(!path.exists());
    assert!(!dir.path().join("missing").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{label}");

    // An unknown operator to a file: the previous file stays, nothing else.
    let path = dir.path().join("guide.xml");
    std::fs::write(&path, "previous").unwrap();
    let err = export_to_file(store, 999_999, 1, &path).await.unwrap_err();
    assert!(matches!(err, EpgError::NotFound(_)), "{label}: {err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "{label}");

    // A writer that fails half-way: an Io error.
    struct Failing(usize);
    impl std::io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = export(store, f.client.id, 1, Failing(300))
        .await
        .unwrap_err();
    assert!(matches!(err, EpgError::Io(_)), "{label}: {err:?}");
    db.cleanup().await;
}

#[tokio::test]
async fn failures_sqlite() {
    check_failures(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn failures_postgres() {
    check_failures(TestDb::postgres().await).await;
}

/// The export futures can run on a multi-threaded runtime.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let store: Option<Store> = None;
    if let Some(store) = &store {
        send(&export(store, 1, 1, Vec::new()));
        send(&export_to_file(store, 1, 1, Path::new("x")));
    }
}
