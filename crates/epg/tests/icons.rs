//! Channel icons: fetching over real loopback HTTP and from disk, resizing,
//! failures leaving previous icons intact, key validation, size choice and
//! serving (with traversal attempts).

use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use efir_epg::icons::{
    self, url_path, validate_key, IconError, IconStore, ICONS_URL_PREFIX, ICON_SIZES,
    MAX_ICON_BYTES,
};
use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use tower::ServiceExt;

fn png(w: u32, h: u32, colour: [u8; 4]) -> Vec<u8> {
    let img = DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba(colour)));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([20, 200, 40])));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A loopback server with every kind of icon source the tests need.
async fn source_server() -> SocketAddr {
    let red = png(300, 200, [255, 0, 0, 255]);
    let blue = png(100, 250, [0, 0, 255, 255]);
    let photo = jpeg(200, 300);
    let wide = png(9000, 1, [0, 0, 0, 255]);
    let app = Router::new()
        .route("/red.png", get(move || async move { red }))
        .route("/blue.png", get(move || async move { blue }))
        .route("/photo.jpg", get(move || async move { photo }))
        .route("/wide.png", get(move || async move { wide }))
        .route(
            "/text",
            get(|| async { "<html>this is not an image</html>" }),
        )
        .route(
            "/huge",
            get(|| async { vec![0x89u8; MAX_ICON_BYTES as usize + 1] }),
        )
        .route(
            // No Content-Length: the limit must be enforced while reading.
            "/huge-stream",
            get(|| async {
                let chunk = Bytes::from(vec![0u8; 1024 * 1024]);
                let chunks = (0..12).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn size_path(store: &IconStore, key: &str, (w, h): (u32, u32)) -> std::path::PathBuf {
    store.root().join(key).join(format!("{w}x{h}.png"))
}

/// Every size exists with exact dimensions, transparent corners and an
/// opaque centre.
fn check_icon_set(store: &IconStore, key: &str) {
    for size in ICON_SIZES {
        let path = size_path(store, key, size);
        let img = image::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgba8();
        assert_eq!(img.dimensions(), size, "{}", path.display());
        let (w, h) = size;
        assert_eq!(
            img.get_pixel(0, 0)[3],
            0,
            "corner of {w}x{h} not transparent"
        );
        assert_eq!(
            img.get_pixel(w - 1, h - 1)[3],
            0,
            "corner of {w}x{h} not transparent"
        );
        assert_eq!(
            img.get_pixel(w / 2, h / 2)[3],
            255,
            "centre of {w}x{h} not opaque"
        );
    }
    assert!(store.root().join(key).join("original.png").is_file());
}

#[tokio::test]
async fn png_is_stored_in_every_size_centred_on_transparency() {
    let addr = source_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    assert_eq!(store.root(), dir.path().join("icons"));

    let stored = store
        .fetch(&client(), &format!("http://{addr}/red.png"), "epg/12")
        .await
        .unwrap();
    assert_eq!(stored.key, "epg/12");
    assert_eq!((stored.width, stored.height), (300, 200));
    assert_eq!(stored.sha256.len(), 64);
    check_icon_set(&store, "epg/12");

    // The 500x500 copy: 500x333 picture, 83 transparent rows above.
    let big = image::open(size_path(&store, "epg/12", (500, 500)))
        .unwrap()
        .to_rgba8();
    assert_eq!(big.get_pixel(250, 10)[3], 0);
    assert_eq!(*big.get_pixel(250, 250), Rgba([255, 0, 0, 255]));
    assert_eq!(*big.get_pixel(0, 250), Rgba([255, 0, 0, 255]));

    let original = image::open(store.root().join("epg/12/original.png")).unwrap();
    assert_eq!(original.dimensions(), (300, 200));
    assert_eq!(store.sizes_present("epg/12").unwrap(), ICON_SIZES.to_vec());
}

#[tokio::test]
async fn jpeg_is_stored_in_every_size() {
    let addr = source_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let stored = store
        .fetch(&client(), &format!("http://{addr}/photo.jpg"), "channel/7")
        .await
        .unwrap();
    assert_eq!((stored.width, stored.height), (200, 300));
    check_icon_set(&store, "channel/7");
    // Portrait: padding left and right of the 120x91 copy.
    let small = image::open(size_path(&store, "channel/7", (120, 91)))
        .unwrap()
        .to_rgba8();
    assert_eq!(small.get_pixel(5, 45)[3], 0);
    assert_eq!(small.get_pixel(114, 45)[3], 0);
}

#[tokio::test]
async fn refetch_replaces_the_icon() {
    let addr = source_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let http = client();
    let first = store
        .fetch(&http, &format!("http://{addr}/red.png"), "epg/1")
        .await
        .unwrap();
    let second = store
        .fetch(&http, &format!("http://{addr}/blue.png"), "epg/1")
        .await
        .unwrap();
    assert_eq!((second.width, second.height), (100, 250));
    assert_ne!(first.sha256, second.sha256);
    let big = image::open(size_path(&store, "epg/1", (500, 500)))
        .unwrap()
        .to_rgba8();
    assert_eq!(*big.get_pixel(250, 250), Rgba([0, 0, 255, 255]));
    let original = image::open(store.root().join("epg/1/original.png")).unwrap();
    assert_eq!(original.dimensions(), (100, 250));
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(store.root().join("epg/1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

fn snapshot(store: &IconStore, key: &str) -> Vec<Vec<u8>> {
    let mut files = vec![std::fs::read(store.root().join(key).join("original.png")).unwrap()];
    for size in ICON_SIZES {
        files.push(std::fs::read(size_path(store, key, size)).unwrap());
    }
    files
}

#[tokio::test]
async fn failures_name_the_cause_and_keep_previous_icons() {
    let addr = source_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let http = client();
    store
        .fetch(&http, &format!("http://{addr}/red.png"), "epg/5")
        .await
        .unwrap();
    let before = snapshot(&store, "epg/5");

    // 404.
    let err = store
        .fetch(&http, &format!("http://{addr}/missing.png"), "epg/5")
        .await
        .unwrap_err();
    assert!(
        matches!(err, IconError::HttpStatus { status, .. } if status.as_u16() == 404),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("404"), "{msg}");
    assert!(msg.contains("/missing.png"), "{msg}");

    // Not an image.
    let err = store
        .fetch(&http, &format!("http://{addr}/text"), "epg/5")
        .await
        .unwrap_err();
    assert!(matches!(err, IconError::NotAnImage { .. }), "{err:?}");
    assert!(err.to_string().contains("not an image"), "{err}");

    // Above the byte limit, with and without Content-Length.
    for path in ["huge", "huge-stream"] {
        let err = store
            .fetch(&http, &format!("http://{addr}/{path}"), "epg/5")
            .await
            .unwrap_err();
        assert!(matches!(err, IconError::TooLarge { .. }), "{path}: {err:?}");
        assert!(err.to_string().contains("too large"), "{err}");
    }

    // Above the pixel limit.
    let err = store
        .fetch(&http, &format!("http://{addr}/wide.png"), "epg/5")
        .await
        .unwrap_err();
    assert!(matches!(err, IconError::TooManyPixels { .. }), "{err:?}");
    assert!(err.to_string().contains("8192x8192"), "{err}");

    // Connection refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = store
        .fetch(&http, &format!("http://{closed}/x.png"), "epg/5")
        .await
        .unwrap_err();
    assert!(matches!(err, IconError::Download { .. }), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");

    // Unsupported sources.
    for src in [
        "ftp://example.com/a.png",
        "relative/a.png",
        "data:image/png;base64,AA",
    ] {
        let err = store.fetch(&http, src, "epg/5").await.unwrap_err();
        assert!(
            matches!(err, IconError::UnsupportedSource(_)),
            "{src}: {err:?}"
        );
    }

    assert_eq!(snapshot(&store, "epg/5"), before);
    let names = std::fs::read_dir(store.root().join("epg/5"))
        .unwrap()
        .count();
    assert_eq!(names, 4, "temporary files left behind");
}

#[tokio::test]
async fn local_path_and_file_url_sources() {
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(&dir.path().join("data"));
    let file = dir.path().join("logo.png");
    std::fs::write(&file, png(64, 64, [1, 2, 3, 255])).unwrap();
    let http = client();

    let stored = store
        .fetch(&http, file.to_str().unwrap(), "channel/1")
        .await
        .unwrap();
    assert_eq!((stored.width, stored.height), (64, 64));
    for size in ICON_SIZES {
        let img = image::open(size_path(&store, "channel/1", size)).unwrap();
        assert_eq!(img.dimensions(), size);
    }

    let url = reqwest::Url::from_file_path(&file).unwrap();
    let stored = store.fetch(&http, url.as_str(), "channel/2").await.unwrap();
    assert_eq!((stored.width, stored.height), (64, 64));
    assert_eq!(store.sizes_present("channel/2").unwrap().len(), 3);

    let err = store
        .fetch(
            &http,
            dir.path().join("nope.png").to_str().unwrap(),
            "channel/3",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IconError::Io { .. }), "{err:?}");
}

#[tokio::test]
async fn bad_keys_are_rejected() {
    for key in [
        "../x", "a/../b", "A", "a//b", "", "/a", "a/", "a.png", "a\\b", "a b",
    ] {
        let err = validate_key(key).unwrap_err();
        assert!(matches!(err, IconError::BadKey { .. }), "{key:?}");
        assert!(err.to_string().contains("invalid icon key"), "{err}");
    }
    assert!(validate_key(&"x".repeat(129)).is_err());
    for key in ["epg/12", "channel/3", "a", "a-b_c/0/9", &"x".repeat(128)] {
        validate_key(key).unwrap();
    }

    // Every entry point checks the key, before touching the network or disk.
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let err = store
        .fetch(&client(), "http://127.0.0.1:1/x.png", "../x")
        .await
        .unwrap_err();
    assert!(matches!(err, IconError::BadKey { .. }), "{err:?}");
    assert!(store.sizes_present("a/../b").is_err());
    assert!(store.remove("/a").is_err());
    assert!(!store.root().exists());
}

#[test]
fn url_path_picks_the_closest_stored_size() {
    assert_eq!(url_path("epg/12", 100, 80), "/icons/epg/12/120x91.png");
    assert_eq!(url_path("epg/12", 120, 91), "/icons/epg/12/120x91.png");
    assert_eq!(url_path("epg/12", 1000, 1000), "/icons/epg/12/500x500.png");
    assert_eq!(url_path("epg/12", 121, 50), "/icons/epg/12/500x500.png");
    assert_eq!(url_path("epg/12", 30, 30), "/icons/epg/12/40x40.png");
    assert_eq!(url_path("epg/12", 40, 40), "/icons/epg/12/40x40.png");
    assert_eq!(url_path("epg/12", 0, 0), "/icons/epg/12/40x40.png");
    assert_eq!(url_path("channel/3", 41, 40), "/icons/channel/3/120x91.png");
    assert!(url_path("x", 1, 1).starts_with(ICONS_URL_PREFIX));
}

#[tokio::test]
async fn sizes_present_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let file = dir.path().join("logo.png");
    std::fs::write(&file, png(10, 10, [9, 9, 9, 255])).unwrap();
    let src = file.to_str().unwrap();
    let http = client();

    assert!(store.sizes_present("epg/9").unwrap().is_empty());
    store.remove("epg/9").unwrap(); // nothing to remove is fine

    store.fetch(&http, src, "epg").await.unwrap();
    store.fetch(&http, src, "epg/9").await.unwrap();
    std::fs::remove_file(size_path(&store, "epg/9", (40, 40))).unwrap();
    assert_eq!(
        store.sizes_present("epg/9").unwrap(),
        vec![(500, 500), (120, 91)]
    );

    // Removing a key leaves keys nested below it alone.
    store.remove("epg").unwrap();
    assert!(store.sizes_present("epg").unwrap().is_empty());
    assert_eq!(store.sizes_present("epg/9").unwrap().len(), 2);

    store.remove("epg/9").unwrap();
    assert!(store.sizes_present("epg/9").unwrap().is_empty());
    assert!(
        !store.root().join("epg").exists(),
        "empty directories pruned"
    );
    assert!(store.root().exists());
}

async fn get_status(
    app: &Router,
    method: &str,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body)
}

#[tokio::test]
async fn routes_serve_icons_with_cache_headers() {
    let dir = tempfile::tempdir().unwrap();
    let store = IconStore::new(dir.path());
    let file = dir.path().join("logo.png");
    std::fs::write(&file, png(30, 20, [5, 6, 7, 255])).unwrap();
    store
        .fetch(&client(), file.to_str().unwrap(), "epg/12")
        .await
        .unwrap();
    let app = icons::routes(store.clone());

    let uri = url_path("epg/12", 100, 80);
    let (status, headers, body) = get_status(&app, "GET", &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=86400");
    assert_eq!(
        body,
        std::fs::read(size_path(&store, "epg/12", (120, 91))).unwrap()
    );
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!(img.dimensions(), (120, 91));

    let (status, headers, body) = get_status(&app, "HEAD", &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=86400");
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert!(body.is_empty());

    let (status, ..) = get_status(&app, "GET", "/icons/epg/12/original.png").await;
    assert_eq!(status, StatusCode::OK);

    for missing in [
        "/icons/epg/13/40x40.png",
        "/icons/epg/12/41x40.png",
        "/icons/epg/12",
        "/icons/epg",
        "/icons/",
    ] {
        let (status, ..) = get_status(&app, "GET", missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    let (status, ..) = get_status(&app, "POST", &uri).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Over real HTTP, too.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let resp = client()
        .get(format!("http://{addr}{}", url_path("epg/12", 10, 10)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()[header::CACHE_CONTROL],
        "public, max-age=86400"
    );
    let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(img.dimensions(), (40, 40));
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[tokio::test]
async fn routes_refuse_to_leave_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let store = IconStore::new(data);
    let logo = data.join("logo.png");
    std::fs::write(&logo, png(8, 8, [1, 1, 1, 255])).unwrap();
    store
        .fetch(&client(), logo.to_str().unwrap(), "epg/12")
        .await
        .unwrap();
    // Files outside the root that a traversal would reach.
    write(&data.join("Cargo.toml"), b"[package]");
    write(&data.join("secret"), b"secret");
    write(&data.join("secret.png"), &png(40, 40, [0, 0, 0, 255]));
    write(
        &data.join("outside/40x40.png"),
        &png(40, 40, [0, 0, 0, 255]),
    );
    let app = icons::routes(store.clone());

    let attempts = [
        "/icons/../Cargo.toml",
        "/icons/%2e%2e/Cargo.toml",
        "/icons/%2e%2e/x",
        "/icons/epg/..%2f..%2fsecret",
        "/icons/epg/..%2f..%2fsecret.png",
        "/icons/epg/12/..%2f..%2f..%2fsecret.png",
        "/icons/epg/12/../../../secret.png",
        "/icons/..%5csecret.png",
        "/icons/epg\\..\\..\\secret.png",
        "/icons/%2fetc%2fpasswd",
        "/icons//secret.png",
        "/icons/%ff%fe/40x40.png",
        "/icons/./epg/12/40x40.png",
    ];
    for uri in attempts {
        let (status, _, body) = get_status(&app, "GET", uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_ne!(&body[..], b"secret", "{uri}");
    }

    #[cfg(unix)]
    {
        // A symlinked file and a symlinked key directory pointing outside.
        let evil = store.root().join("epg/evil");
        std::fs::create_dir_all(&evil).unwrap();
        std::os::unix::fs::symlink(data.join("secret.png"), evil.join("40x40.png")).unwrap();
        std::os::unix::fs::symlink(data.join("outside"), store.root().join("epg/link")).unwrap();
        for uri in ["/icons/epg/evil/40x40.png", "/icons/epg/link/40x40.png"] {
            let (status, ..) = get_status(&app, "GET", uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    // The legitimate icon is still served.
    let (status, ..) = get_status(&app, "GET", "/icons/epg/12/40x40.png").await;
    assert_eq!(status, StatusCode::OK);
}
