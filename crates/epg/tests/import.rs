//! `epg-import` against real databases: time zones, gzip, idempotent
//! re-imports, atomicity on malformed guides, category mapping, bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use efir_epg::import::{self, ImportOptions, ImportSummary};
use efir_epg::model::{self, NewSource, SourceRef};
use efir_store::testing::TestDb;
use efir_store::{with_db, Actor, Store};

fn actor() -> Actor {
    Actor::Command("test".into())
}

async fn add_source(store: &Store, name: &str, path: &Path, zone: &str) -> i64 {
    model::add_source(
        store,
        actor(),
        &NewSource {
            name: name.into(),
            url: path.display().to_string(),
            time_zone: zone.into(),
            client_id: None,
        },
    )
    .await
    .unwrap()
}

async fn import(store: &Store, work: &Path, source: i64, force: bool) -> ImportSummary {
    import::run(
        store,
        &reqwest::Client::new(),
        actor(),
        &ImportOptions {
            source: Some(SourceRef::Id(source)),
            force,
            work_dir: work.to_path_buf(),
            ..ImportOptions::default()
        },
    )
    .await
    .unwrap()
}

/// (ext id, start, stop, title) of every stored programme, in order.
async fn guide(store: &Store) -> Vec<(String, i64, i64, String)> {
    with_db!(store.pool(), p => sqlx::query_as(
        "SELECT c.ext_id, p.start_at, p.stop_at, p.title FROM epg_programme p \
         JOIN epg_channel c ON c.id = p.epg_channel_id ORDER BY c.ext_id, p.start_at")
        .fetch_all(p)
        .await)
    .unwrap()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n";

fn ts(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
}

#[tokio::test]
async fn zones_offsets_and_dst() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "{HEAD}<channel id=\"a\"><display-name>A</display-name></channel>\
             <channel id=\"b\"><display-name>B</display-name></channel>\
             <programme start=\"20261025010000 +0200\" stop=\"20261025020000 +0100\" channel=\"a\"><title>Across DST</title></programme>\
             <programme start=\"20261025020000 +0100\" stop=\"20261025030000 +0100\" channel=\"a\"><title>After</title></programme>\
             <programme start=\"20261025013000\" stop=\"20261025023000\" channel=\"b\"><title>Zoneless</title></programme>\
             <programme start=\"20261025023000\" stop=\"20261025040000\" channel=\"b\"><title>Zoneless 2</title></programme>\
             </tv>\n"
        );
        let path = write(dir.path(), "g.xml", &body);
        // Zoneless times in Europe/Berlin: 01:30 is still CEST (+2) at the
        // fall-back day, 02:30 is ambiguous and takes the earlier instant.
        let source = add_source(&db.store, "berlin", &path, "Europe/Berlin").await;
        let s = import(&db.store, dir.path(), source, false).await;
        assert_eq!(s.programmes_added, 4, "{}: {s:?}", db.label);
        assert_eq!(s.channels_created, 2);
        let g = guide(&db.store).await;
        assert_eq!(
            g,
            vec![
                (
                    "a".into(),
                    ts("2026-10-24 23:00"),
                    ts("2026-10-25 01:00"),
                    "Across DST".into()
                ),
                (
                    "a".into(),
                    ts("2026-10-25 01:00"),
                    ts("2026-10-25 02:00"),
                    "After".into()
                ),
                (
                    "b".into(),
                    ts("2026-10-24 23:30"),
                    ts("2026-10-25 00:30"),
                    "Zoneless".into()
                ),
                (
                    "b".into(),
                    ts("2026-10-25 00:30"),
                    ts("2026-10-25 03:00"),
                    "Zoneless 2".into()
                ),
            ],
            "{}",
            db.label
        );
        // An EPG channel's own offset wins over the source's zone.
        let b = model::channels(&db.store, source)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.ext_id == "b")
            .unwrap();
        model::set_channel_offset(&db.store, actor(), b.id, Some(5 * 60))
            .await
            .unwrap();
        let s = import(&db.store, dir.path(), source, true).await;
        assert_eq!((s.programmes_added, s.programmes_removed), (2, 2), "{s:?}");
        let g = guide(&db.store).await;
        assert_eq!(g[2].1, ts("2026-10-24 20:30"), "{}", db.label);
        // A source without any zone: UTC.
        let path2 = write(
            dir.path(),
            "utc.xml",
            &format!("{HEAD}<channel id=\"u\"/><programme start=\"202610251200\" stop=\"20261025130000\" channel=\"u\"><title>Noon</title></programme></tv>"),
        );
        let utc = add_source(&db.store, "utc", &path2, "").await;
        import(&db.store, dir.path(), utc, false).await;
        let g = guide(&db.store).await;
        let noon = g.iter().find(|r| r.0 == "u").unwrap();
        assert_eq!(
            (noon.1, noon.2),
            (ts("2026-10-25 12:00"), ts("2026-10-25 13:00"))
        );
        db.cleanup().await;
    }
}

/// A guide of `channels` × `per_channel` hour-long programmes from `start`.
fn sample(channels: usize, per_channel: usize, start: i64, title: &str) -> String {
    let mut s = String::from(HEAD);
    for c in 0..channels {
        s.push_str(&format!(
            "<channel id=\"c{c}\"><display-name lang=\"en\">C {c}</display-name></channel>\n"
        ));
    }
    for c in 0..channels {
        for i in 0..per_channel {
            let t = |x: i64| {
                chrono::DateTime::from_timestamp(x, 0)
                    .unwrap()
                    .format("%Y%m%d%H%M%S +0000")
                    .to_string()
            };
            let b = start + (i as i64) * 3600;
            s.push_str(&format!(
                "<programme start=\"{}\" stop=\"{}\" channel=\"c{c}\">\
                 <title lang=\"en\">{title} {i} &amp; co</title><title lang=\"ru\">Передача {i}</title>\
                 <desc lang=\"en\"><![CDATA[About <{i}>]]></desc>\
                 <category lang=\"en\">News</category><category lang=\"en\">Weird</category>\
                 <episode-num system=\"xmltv_ns\">1.4.</episode-num>{}</programme>\n",
                t(b),
                t(b + 3600),
                if i == 0 { "<premiere/>" } else { "" }
            ));
        }
    }
    s.push_str("</tv>\n");
    s
}

#[tokio::test]
async fn gzip_reimport_and_malformed_guides() {
    let start: i64 = 1_799_996_400; // a whole hour
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guide.xml.gz");
        let gz = |body: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::default(),
            );
            e.write_all(body).unwrap();
            e.finish().unwrap();
        };
        gz(sample(3, 24, start, "Show").as_bytes());
        let source = add_source(&db.store, "gz", &path, "").await;
        // Map "News" before the import; "Weird" stays unmapped.
        with_db!(db.store.pool(), p => {
            sqlx::query("INSERT INTO epg_category (name, created_at) VALUES ('Информация', 0)")
                .execute(p).await.unwrap();
            sqlx::query("INSERT INTO epg_source_category_map (source_id, source_category, epg_category_id) \
                         SELECT $1, 'News', id FROM epg_category WHERE name = 'Информация'")
                .bind(source).execute(p).await.unwrap();
        });
        let s = import(&db.store, dir.path(), source, false).await;
        assert_eq!(
            (s.channels, s.programmes, s.programmes_added),
            (3, 72, 72),
            "{}: {s:?}",
            db.label
        );
        let (title, i18n, genres, season, episode, description): (
            String,
            String,
            String,
            Option<i64>,
            Option<i64>,
            String,
        ) = with_db!(db.store.pool(), p => sqlx::query_as(
                "SELECT title, i18n, genres, season, episode, description FROM epg_programme \
                 WHERE start_at = $1 LIMIT 1")
                .bind(start)
                .fetch_one(p)
                .await)
        .unwrap();
        assert_eq!(title, "Show 0 & co");
        assert!(i18n.contains("Передача 0"), "{i18n}");
        assert_eq!(genres, "[\"Информация\"]");
        assert_eq!((season, episode), (Some(2), Some(5)));
        assert_eq!(description, "About <0>");
        let unmapped: Vec<String> = with_db!(db.store.pool(), p => sqlx::query_scalar(
            "SELECT source_category FROM epg_source_category_map WHERE epg_category_id IS NULL")
            .fetch_all(p)
            .await)
        .unwrap();
        assert_eq!(unmapped, vec!["Weird".to_string()]);

        // Unchanged file: skipped by checksum; forced: read, nothing written.
        let audit_before = db.store.audit_count().await.unwrap();
        let s = import(&db.store, dir.path(), source, false).await;
        assert_eq!(s.sources_unchanged, 1);
        let s = import(&db.store, dir.path(), source, true).await;
        assert_eq!(s.programmes, 72);
        assert_eq!(
            (
                s.programmes_added,
                s.programmes_updated,
                s.programmes_removed
            ),
            (0, 0, 0),
            "{}",
            db.label
        );
        // Only the source's "last import" bookkeeping was written.
        assert_eq!(db.store.audit_count().await.unwrap(), audit_before + 1);

        // A changed guide: one title changed, the last programme gone.
        let before = guide(&db.store).await;
        let mut body = sample(3, 23, start, "Show");
        body = body.replacen("Show 5 &amp; co", "Show 5 (new)", 1);
        gz(body.as_bytes());
        let s = import(&db.store, dir.path(), source, false).await;
        assert_eq!(
            (
                s.programmes_added,
                s.programmes_updated,
                s.programmes_removed
            ),
            (0, 1, 3),
            "{}: {s:?}",
            db.label
        );
        let after = guide(&db.store).await;
        assert_eq!(after.len(), before.len() - 3);

        // Truncated and malformed guides change nothing.
        for bad in [
            body.as_bytes()[..body.len() / 2].to_vec(),
            body.replacen("<tv>", "<guide>", 1).into_bytes(),
            b"not xml at all".to_vec(),
        ] {
            gz(&bad);
            let s = import::run(
                &db.store,
                &reqwest::Client::new(),
                actor(),
                &ImportOptions {
                    source: Some(SourceRef::Id(source)),
                    work_dir: dir.path().to_path_buf(),
                    ..ImportOptions::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(s.sources_failed, 1, "{}: {s:?}", db.label);
            assert!(s.errors[0].contains("source `gz`"), "{:?}", s.errors);
            assert_eq!(guide(&db.store).await, after, "{}", db.label);
            let src = model::source(&db.store, &SourceRef::Id(source))
                .await
                .unwrap();
            assert!(!src.last_error.is_empty());
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn duplicates_overlaps_and_bad_programmes() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(10 << 20);
    let body = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE tv [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n<tv>\n\
         <channel id=\"a\"/>\n\
         <programme start=\"20260101100000 +0000\" stop=\"20260101113000 +0000\" channel=\"a\"><title>First</title></programme>\n\
         <programme start=\"20260101100000 +0000\" stop=\"20260101110000 +0000\" channel=\"a\"><title>Duplicate</title></programme>\n\
         <programme start=\"20260101110000 +0000\" channel=\"a\"><title>No stop</title></programme>\n\
         <programme start=\"20260101120000 +0000\" stop=\"20260101130000 +0000\" channel=\"a\"><title>&lol2;</title></programme>\n\
         <programme start=\"20260101130000 +0000\" stop=\"20260101140000 +0000\" channel=\"a\"><title>{big}</title></programme>\n\
         <programme start=\"garbage\" channel=\"a\"><title>Bad start</title></programme>\n\
         <programme start=\"20260101140000 +0000\" stop=\"20260101150000 +0000\" channel=\"nowhere\"><title>Unknown</title></programme>\n\
         <programme start=\"20260101150000 +0000\" stop=\"20260101160000 +0000\" channel=\"a\"><title>Last</title></programme>\n\
         </tv>\n"
    );
    let path = write(dir.path(), "bad.xml", &body);
    for db in TestDb::both().await {
        let source = add_source(&db.store, "bad", &path, "").await;
        let s = import(&db.store, dir.path(), source, false).await;
        assert_eq!(s.programmes_skipped, 3, "{}: {s:?}", db.label);
        assert_eq!(s.programmes_unknown_channel, 1);
        assert!(
            s.errors.iter().any(|e| e.contains("line 8")),
            "{:?}",
            s.errors
        );
        assert!(
            s.errors.iter().any(|e| e.contains("nowhere")),
            "{:?}",
            s.errors
        );
        let g: Vec<(i64, i64, String)> = guide(&db.store)
            .await
            .into_iter()
            .map(|(_, a, b, t)| (a, b, t))
            .collect();
        let h = |hh: u32| ts(&format!("2026-01-01 {hh:02}:00"));
        assert_eq!(
            g,
            vec![
                (h(10), h(11), "First".into()),
                (h(11), h(15), "No stop".into()),
                (h(15), h(16), "Last".into()),
            ],
            "{}",
            db.label
        );
        db.cleanup().await;
    }
}
