//! The EPG commands through the real binary: a guide and an icon served
//! over HTTP, imported, exported, checked; icons served by `efir serve`.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{free_port, stderr, stdout, wait_http, Env, Running};

/// A PNG of `w`×`h`.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba([200, 30, 30, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A gzip guide: two channels (one with an icon at `icon`), programmes
/// around now, the first a premiere.
fn guide(icon: &str, now: i64) -> Vec<u8> {
    let t = |x: i64| {
        chrono::DateTime::from_timestamp(x, 0)
            .unwrap()
            .format("%Y%m%d%H%M%S")
            .to_string()
    };
    let start = now - now % 3600;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n\
         <channel id=\"one\"><display-name lang=\"en\">One</display-name><icon src=\"{icon}\"/></channel>\n\
         <channel id=\"two\"><display-name>Two</display-name></channel>\n"
    );
    for ch in ["one", "two"] {
        for i in 0..6 {
            // Zoneless times: the source's offset (+03:00) applies.
            let b = start + i * 3600 + 3 * 3600;
            xml.push_str(&format!(
                "<programme start=\"{}\" stop=\"{}\" channel=\"{ch}\"><title>{ch} &amp; {i}</title>{}</programme>\n",
                t(b),
                t(b + 3600),
                if i == 2 { "<premiere/>" } else { "" }
            ));
        }
    }
    xml.push_str("</tv>\n");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Serves `/guide.xml.gz` (whatever is in `body`) and `/icon.png`.
async fn fake_provider(body: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    let icon = png(300, 200);
    let app = axum::Router::new()
        .route(
            "/guide.xml.gz",
            axum::routing::get(move || {
                let body = body.clone();
                async move { body.lock().unwrap().clone() }
            }),
        )
        .route(
            "/icon.png",
            axum::routing::get(move || {
                let icon = icon.clone();
                async move { ([("content-type", "image/png")], icon) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn import_export_and_icons_through_the_binary() {
    for env in Env::both().await {
        let label = env.label();
        let now = chrono::Utc::now().timestamp();
        let body = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let base = fake_provider(body.clone()).await;
        *body.lock().unwrap() = guide(&format!("{base}/icon.png"), now);
        let out = env.manage(&[
            "create-client",
            "--name",
            "EPG TV",
            "--api-key",
            "epg-device-key",
            "--domain-prefix",
            "epg",
            "--email",
            "e@x.tv",
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));

        // Snake-case spelling; prints the new id.
        let out = env.manage(&[
            "epg_source_add",
            "--name=Provider",
            &format!("--url={base}/guide.xml.gz"),
            "--offset_hours=3",
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "1");
        let dup = env.manage(&["epg-source-add", "--name", "Provider", "--url", "/x"]);
        assert!(!dup.status.success());
        assert!(stderr(&dup).contains("exists already"), "{}", stderr(&dup));

        // Channels and icons.
        let ch = env.manage_json(&["epg-channel-import", "--epg-source-name", "Provider"]);
        assert_eq!(ch["created"], 2, "{label}: {ch}");
        assert_eq!(ch["icons_fetched"], 1, "{label}: {ch}");
        for (w, h) in [(500, 500), (120, 91), (40, 40)] {
            let path = env.path(&format!("icons/epg/1/{w}x{h}.png"));
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!((img.width(), img.height()), (w, h));
        }

        // Listing and changing EPG channels.
        let sources = env.manage_json(&["epg-source-list"]);
        assert_eq!(sources[0]["name"], "Provider", "{label}: {sources}");
        let chans = env.manage_json(&["epg-channel-list", "--epg-source-id", "1"]);
        assert_eq!(chans.as_array().unwrap().len(), 2, "{label}: {chans}");
        let set = env.manage_json(&[
            "epg_channel_set",
            "--epg_channel_id=2",
            "--offset_hours=-2.5",
            "--enabled=False",
        ]);
        assert_eq!(set["offset_minutes"], -150, "{label}: {set}");
        assert_eq!(set["enabled"], false);
        let set = env.manage_json(&[
            "epg-channel-set",
            "--epg-channel-id",
            "2",
            "--source-zone",
            "--enabled",
            "true",
        ]);
        assert!(set["offset_minutes"].is_null(), "{label}: {set}");
        assert_eq!(set["enabled"], true);
        for args in [
            vec!["epg-channel-set", "--epg-channel-id", "2"],
            vec![
                "epg-channel-set",
                "--epg-channel-id",
                "2",
                "--map-channel-id",
                "999",
            ],
            vec![
                "epg-channel-set",
                "--epg-channel-id",
                "99",
                "--enabled",
                "true",
            ],
            vec![
                "epg-channel-set",
                "--epg-channel-id",
                "2",
                "--offset-hours",
                "3.3",
            ],
        ] {
            let out = env.manage(&args);
            assert!(!out.status.success(), "{label}: {args:?} should fail");
        }

        // Programmes; the JSON summary scripts rely on.
        let s = env.manage_json(&["epg-import"]);
        for key in [
            "sources",
            "channels",
            "programmes_added",
            "programmes_updated",
            "programmes_removed",
            "errors",
            "seconds",
        ] {
            assert!(s.get(key).is_some(), "{label}: {key} missing in {s}");
        }
        assert_eq!(s["programmes_added"], 12, "{label}: {s}");
        let again = env.manage_json(&["epg_import"]);
        assert_eq!(again["sources_unchanged"], 1, "{label}: {again}");
        let forced = env.manage_json(&["epg-import", "--force-reimport", "--actual-days", "30"]);
        assert_eq!(forced["programmes_added"], 0, "{label}: {forced}");
        assert_eq!(forced["programmes_updated"], 0);

        // Channels for the operator made from the guide, then premieres.
        let c = env.manage_json(&[
            "epg-import",
            "--client-id",
            "1",
            "--create-content",
            "--ignore-epg-import",
        ]);
        assert_eq!(c["channels_created_for_client"], 2, "{label}: {c}");
        let p = env.manage_json(&["epg-premiere-import"]);
        assert_eq!(p["premieres"], 2, "{label}: {p}");

        // Export, then read it back with the same parser.
        let out = env.manage(&[
            "epg-export",
            "--client-id",
            "1",
            "--days",
            "2",
            "--output",
            "export.xml",
        ]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let check = env.manage_json(&["epg-check", "export.xml"]);
        assert_eq!(check["channels"], 2, "{label}: {check}");
        assert_eq!(check["programmes"], 12, "{label}: {check}");
        assert_eq!(check["skipped"].as_array().unwrap().len(), 0);
        let exported = std::fs::read_to_string(env.path("export.xml")).unwrap();
        assert!(exported.contains("one &amp; 2"), "escaping kept");

        // A broken guide: non-zero exit, the JSON summary still printed,
        // the stored guide intact.
        let good = body.lock().unwrap().clone();
        *body.lock().unwrap() = good[..good.len() / 2].to_vec();
        let out = env.manage(&["epg-import", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{label}");
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["sources_failed"], 1);
        assert!(stderr(&out).contains("failed"), "{}", stderr(&out));
        let check = env.manage_json(&["epg-export", "--client-id", "1", "--output", "again.xml"]);
        assert_eq!(check["programmes"], 12, "{label}: guide kept: {check}");

        // Remap the operator's first channel to the other EPG channel.
        let mapped = env.manage_json(&[
            "epg-channel-set",
            "--epg-channel-id",
            "2",
            "--map-channel-id",
            "1",
        ]);
        assert_eq!(mapped["id"], 2, "{label}: {mapped}");
        let store = env.store().await;
        let epg: Option<i64> = efir_store::with_db!(store.pool(), p => sqlx::query_scalar(
            "SELECT epg_channel_id FROM channel WHERE id = 1")
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!(epg, Some(2), "{label}");
        store.close().await;
        // Bad input to the commands.
        for args in [
            vec!["epg-import", "--epg-source-id", "99"],
            vec!["epg-channel-import"],
            vec![
                "epg-source-add",
                "--name",
                "z",
                "--url",
                "/x",
                "--offset-hours",
                "99",
            ],
            vec![
                "epg-source-add",
                "--name",
                "z",
                "--url",
                "/x",
                "--time-zone",
                "Mars/Base",
            ],
            vec!["epg-export", "--client-id", "42", "--output", "x.xml"],
            vec!["epg-check", "/nonexistent.xml"],
        ] {
            let out = env.manage(&args);
            assert!(!out.status.success(), "{label}: {args:?} should fail");
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        }

        // The icons over HTTP from `efir serve` (SQLite is enough).
        if label == "sqlite" {
            let port = free_port();
            let log = env.path("serve.log");
            let mut cmd = env.cmd();
            cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
            let mut running = Running::spawn(cmd, &log);
            let url = format!("http://127.0.0.1:{port}/icons/epg/1/120x91.png");
            wait_http(&format!("http://127.0.0.1:{port}/health"), &log).await;
            let r = reqwest::get(&url).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "image/png");
            let r = reqwest::get(format!("http://127.0.0.1:{port}/icons/..%2fefir.db"))
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
            running.terminate(Duration::from_secs(10));
        }
        env.cleanup().await;
    }
}
