//! Radio, cameras, applications, the VOD catalog, VOD and catch-up URLs
//! and messages over the device API, on SQLite and PostgreSQL.

mod common;

use common::{exec, Arg};

use common::Server;
use serde_json::Value;

use Arg::{B, I, S};

/// The catalog: a customer with the `Paid` tariff and account
/// `1001`/`secret`; an `Other` tariff nobody has. Each kind of content has
/// items open through `Paid`, one closed (only in `Other`) and, where it
/// can be, one disabled.
struct World {
    account: i64,
    customer: i64,
    other_customer: i64,
    city: i64,
    category: i64,
    radio: Vec<i64>,
    cameras: Vec<i64>,
    apps: Vec<i64>,
    genres: Vec<i64>,
    /// 0 Matrix (1999, drama), 1 Cyrillic comedy (2005), 2 a series,
    /// 3 closed, 4 disabled.
    videos: Vec<i64>,
    /// 0 Matrix film, 1 Matrix trailer.
    files: Vec<i64>,
    season: i64,
    closed_season: i64,
    episodes: Vec<i64>,
    /// 0 with a 3-day archive, 1 without archive, 2 closed.
    channels: Vec<i64>,
    vod: i64,
    pvr: i64,
}

async fn world(s: &Server) -> World {
    let st = &s.db.store;
    let c = s.client.id;
    let tariff = |name: &'static str| {
        let st = st.clone();
        async move {
            exec(&st, "INSERT INTO tariff (client_id, name, basic_tariff_priority, created_at, updated_at) VALUES ($1, $2, 1, 0, 0) RETURNING id",
                &[I(c), S(name)]).await
        }
    };
    let paid = tariff("Paid").await;
    let other = tariff("Other").await;
    let customer = exec(st, "INSERT INTO customer (client_id, firstname, created_at, updated_at) VALUES ($1, 'Ann', 0, 0) RETURNING id", &[I(c)]).await;
    exec(
        st,
        "INSERT INTO customer_tariff (customer_id, tariff_id, assigned_at) VALUES ($1, $2, 0)",
        &[I(customer), I(paid)],
    )
    .await;
    let hash = efir_core::password::hash("secret").unwrap();
    let account = exec(st, "INSERT INTO account (client_id, customer_id, abonement, password_hash, created_at, updated_at) VALUES ($1, $2, '1001', $3, 0, 0) RETURNING id",
        &[I(c), I(customer), S(&hash)]).await;
    let other_customer = exec(st, "INSERT INTO customer (client_id, firstname, created_at, updated_at) VALUES ($1, 'Bob', 0, 0) RETURNING id", &[I(c)]).await;
    let link = |table: &'static str, column: &'static str, t: i64, id: i64| {
        let st = st.clone();
        async move {
            exec(
                &st,
                &format!("INSERT INTO {table} (tariff_id, {column}) VALUES ($1, $2)"),
                &[I(t), I(id)],
            )
            .await
        }
    };

    // Radio: open "Rock" (sort 2), open "Jazz" (sort 1), closed, disabled.
    let mut radio = Vec::new();
    for (name, sort, enabled, t) in [
        ("Rock", 2, true, paid),
        ("Jazz", 1, true, paid),
        ("Closed FM", 0, true, other),
        ("Off FM", 0, false, paid),
    ] {
        let id = exec(st, "INSERT INTO radio (client_id, name, name_lang1, url, logo_url, description, enabled, sort, created_at) VALUES ($1, $2, $3, $4, 'http://logo/r.png', 'Music', $5, $6, 0) RETURNING id",
            &[I(c), S(name), S(&format!("Радио {name}")), S(&format!("http://radio/{name}")), B(enabled), I(sort)]).await;
        link("tariff_radio", "radio_id", t, id).await;
        radio.push(id);
    }

    // Cameras: one in a city and category, one nowhere, one closed.
    let category = exec(
        st,
        "INSERT INTO category (client_id, name, created_at) VALUES ($1, 'Streets', 0) RETURNING id",
        &[I(c)],
    )
    .await;
    let country = exec(
        st,
        "INSERT INTO country (code, name) VALUES ('XX', 'Land') RETURNING id",
        &[],
    )
    .await;
    let city = exec(
        st,
        "INSERT INTO city (country_id, name) VALUES ($1, 'Springfield') RETURNING id",
        &[I(country)],
    )
    .await;
    let mut cameras = Vec::new();
    for (name, in_city, days, t) in [
        ("Square", true, 2, paid),
        ("Road", false, 0, paid),
        ("Secret", true, 0, other),
    ] {
        let id = exec(st, "INSERT INTO camera (client_id, name, name_lang1, url, icon, preview_url, recording_days, created_at) VALUES ($1, $2, $3, $4, 'http://icons/cam.png', 'http://prev/cam.jpg', $5, 0) RETURNING id",
            &[I(c), S(name), S(&format!("Камера {name}")), S(&format!("http://cams/{name}")), I(days)]).await;
        if in_city {
            exec(
                st,
                "UPDATE camera SET city_id = $1, category_id = $2 WHERE id = $3",
                &[I(city), I(category), I(id)],
            )
            .await;
        }
        link("tariff_camera", "camera_id", t, id).await;
        cameras.push(id);
    }

    // Applications: good attrs, broken attrs, closed.
    let mut apps = Vec::new();
    for (name, attrs, t) in [
        ("Weather", r#"{"city":"Springfield"}"#, paid),
        ("Broken", "not json", paid),
        ("Casino", "{}", other),
    ] {
        let id = exec(st, "INSERT INTO application (client_id, name, name_lang1, system_name, app_type, url, show_in_main_menu, css_style, icon, icon_focus, attrs, created_at) VALUES ($1, $2, $3, $4, 'web', 'http://apps/x', FALSE, 'dark', 'i.png', 'f.png', $5, 0) RETURNING id",
            &[I(c), S(name), S(&format!("Прил {name}")), S(&name.to_lowercase()), S(attrs)]).await;
        link("tariff_application", "application_id", t, id).await;
        apps.push(id);
    }

    // VOD.
    let drama = exec(st, "INSERT INTO genre (client_id, name, name_lang1, sort) VALUES ($1, 'Drama', 'Драма', 1) RETURNING id", &[I(c)]).await;
    let comedy = exec(st, "INSERT INTO genre (client_id, name, name_lang1, sort) VALUES ($1, 'Comedy', 'Комедия', 2) RETURNING id", &[I(c)]).await;
    let keanu = exec(
        st,
        "INSERT INTO actor (client_id, name, name_orig) VALUES ($1, 'Keanu', 'Keanu R.') RETURNING id",
        &[I(c)],
    )
    .await;
    let carrie = exec(
        st,
        "INSERT INTO actor (client_id, name) VALUES ($1, 'Carrie') RETURNING id",
        &[I(c)],
    )
    .await;
    let mut videos = Vec::new();
    for (name, orig, year, created, enabled, season, t) in [
        ("Matrix", "The Matrix", 1999, 100, true, false, paid),
        (
            "Ночная КОМЕДИЯ",
            "Night Comedy",
            2005,
            200,
            true,
            false,
            paid,
        ),
        ("Series", "", 2010, 300, true, true, paid),
        ("Closed", "", 2020, 400, true, false, other),
        ("Hidden", "", 2021, 500, false, false, paid),
    ] {
        let id = exec(st, "INSERT INTO video (client_id, name, name_lang1, name_orig, description, description_lang1, year, countries, director, rating, kinopoisk_rating, duration, is_season, is_4k, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, 'About', 'Про', $5, 'US', 'Wachowski', '16+', '8.5', 8160, $6, $7, $8, $9, $9) RETURNING id",
            &[I(c), S(name), S(&format!("Фильм {name}")), S(orig), I(year), B(season), B(!season), B(enabled), I(created)]).await;
        link("tariff_video", "video_id", t, id).await;
        videos.push(id);
    }
    for (v, g) in [
        (videos[0], drama),
        (videos[0], comedy),
        (videos[1], comedy),
        (videos[3], drama),
    ] {
        exec(
            st,
            "INSERT INTO video_genre (video_id, genre_id) VALUES ($1, $2)",
            &[I(v), I(g)],
        )
        .await;
    }
    for a in [keanu, carrie] {
        exec(
            st,
            "INSERT INTO video_actor (video_id, actor_id) VALUES ($1, $2)",
            &[I(videos[0]), I(a)],
        )
        .await;
    }
    let film = exec(st, "INSERT INTO video_file (video_id, ext_id, name, filename, duration, quality) VALUES ($1, 'ext-1', 'Film', 'films/matrix.mp4', 8160, 'HD') RETURNING id", &[I(videos[0])]).await;
    let trailer = exec(st, "INSERT INTO video_file (video_id, name, filename, is_trailer) VALUES ($1, 'Trailer', 'films/matrix-trailer.mp4', TRUE) RETURNING id", &[I(videos[0])]).await;
    exec(st, "INSERT INTO video_file (video_id, name, filename) VALUES ($1, 'Closed film', 'closed.mp4') RETURNING id", &[I(videos[3])]).await;
    let season = exec(
        st,
        "INSERT INTO season (video_id, name, number) VALUES ($1, 'Season 1', 1) RETURNING id",
        &[I(videos[2])],
    )
    .await;
    let closed_season = exec(
        st,
        "INSERT INTO season (video_id, name, number) VALUES ($1, 'S', 1) RETURNING id",
        &[I(videos[3])],
    )
    .await;
    let mut episodes = Vec::new();
    for (name, number, free) in [("Second", 2, false), ("Pilot", 1, true)] {
        let id = exec(st, "INSERT INTO episode (season_id, name, number, duration, preview_url, is_free) VALUES ($1, $2, $3, 2400, 'http://prev/e.jpg', $4) RETURNING id",
            &[I(season), S(name), I(number), B(free)]).await;
        exec(st, "INSERT INTO video_file (video_id, episode_id, ext_id, name, filename, duration, quality) VALUES ($1, $2, $3, $4, $5, 2400, 'SD') RETURNING id",
            &[I(videos[2]), I(id), S(&format!("ep-{number}")), S(name), S(&format!("series/{number}.mp4"))]).await;
        episodes.push(id);
    }

    // Channels for catch-up.
    let mut channels = Vec::new();
    for (name, days, t) in [
        ("Archive", 3, paid),
        ("Live only", 0, paid),
        ("Closed", 7, other),
    ] {
        let id = exec(st, "INSERT INTO channel (client_id, name, recording_days, created_at, updated_at) VALUES ($1, $2, $3, 0, 0) RETURNING id",
            &[I(c), S(name), I(days)]).await;
        link("tariff_channel", "channel_id", t, id).await;
        channels.push(id);
    }
    exec(
        st,
        "UPDATE channel SET id_for_stream_service = 'arch', url_prefix = 'tv/' WHERE id = $1",
        &[I(channels[0])],
    )
    .await;
    let svc = |kind: &'static str, mask: &'static str| {
        let st = st.clone();
        async move {
            exec(&st, "INSERT INTO stream_service (client_id, name, service_type, url_mask, secure_link_secret, created_at) VALUES ($1, $2, $2, $3, 'edge-secret', 0) RETURNING id",
                &[I(c), S(kind), S(mask)]).await
        }
    };
    svc(
        "live",
        "http://live.edge.invalid/$cid/index.m3u8?token=$token",
    )
    .await;
    let vod = svc(
        "vod",
        "http://vod.edge.invalid/$prefix$cid/index.m3u8?token=$token",
    )
    .await;
    let pvr = svc(
        "pvr",
        "http://pvr.edge.invalid/$prefix$cid/archive-$flpbt-$flpdur.m3u8?token=$token",
    )
    .await;

    World {
        account,
        customer,
        other_customer,
        city,
        category,
        radio,
        cameras,
        apps,
        genres: vec![drama, comedy],
        videos,
        files: vec![film, trailer],
        season,
        closed_season,
        episodes,
        channels,
        vod,
        pvr,
    }
}

impl Server {
    /// Logs `1001` in; returns the authkey.
    async fn authkey(&self) -> String {
        self.login_key("1001", "secret", "box-1").await
    }
}

fn ids(v: &Value, list: &str) -> Vec<i64> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {v}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn radio_cameras_and_applications_of_the_tariffs() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());

        let radio = s.tv_ok("radio/list", &[k]).await;
        assert_eq!(
            ids(&radio, "radio"),
            vec![w.radio[1], w.radio[0]],
            "{radio}"
        );
        let jazz = &radio["radio"][0];
        assert_eq!(jazz["name"], "Jazz");
        assert_eq!(jazz["url"], "http://radio/Jazz");
        assert_eq!(jazz["logo_url"], "http://logo/r.png");
        assert_eq!(jazz["description"], "Music");
        assert_eq!(jazz["channel_name"], "");
        assert_eq!(jazz["has_subscription"], 1);
        let ru = s.tv_ok("radio/list", &[k, ("lang", "ru")]).await;
        assert_eq!(ru["radio"][0]["name"], "Радио Jazz");
        // Legacy boxes get XML.
        let client_id = s.client.id.to_string();
        let xml = s
            .http
            .get(format!("{}/tvmiddleware/api/radio/list/", s.base))
            .query(&[
                ("client_id", client_id.as_str()),
                ("authkey", &key),
                ("device", "mag"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            xml.contains(&format!("<radio><item><id>{}</id>", w.radio[1])),
            "{xml}"
        );

        let cams = s.tv_ok("camera/list", &[k]).await;
        assert_eq!(ids(&cams, "cameras"), vec![w.cameras[0], w.cameras[1]]);
        let square = &cams["cameras"][0];
        assert_eq!(square["name"], "Square");
        assert_eq!(square["city_id"], w.city);
        assert_eq!(square["city_name"], "Springfield");
        assert_eq!(square["category_id"], w.category);
        assert_eq!(square["has_record"], 1);
        assert_eq!(square["max_archive_duration"], 2);
        assert_eq!(square["is_favorited"], 0);
        assert_eq!(square["preview_url"], "http://prev/cam.jpg");
        assert_eq!(square["url"], "http://cams/Square");
        assert_eq!(cams["cameras"][1]["city_name"], "");
        assert!(cams["cameras"][1]["city_id"].is_null());
        let city = w.city.to_string();
        let category = w.category.to_string();
        let filtered = s
            .tv_ok(
                "camera/list",
                &[
                    k,
                    ("city_id", &city),
                    ("category_id", &category),
                    ("lang", "ru"),
                    ("icon_width", "40"),
                    ("icon_height", "30"),
                ],
            )
            .await;
        assert_eq!(ids(&filtered, "cameras"), vec![w.cameras[0]]);
        assert_eq!(filtered["cameras"][0]["name"], "Камера Square");
        assert_eq!(filtered["cameras"][0]["icon"], "http://icons/cam40_30.png");
        let none = s.tv_ok("camera/list", &[k, ("city_id", "999999")]).await;
        assert!(ids(&none, "cameras").is_empty());

        let apps = s.tv_ok("application/list", &[k, ("lang", "ru")]).await;
        assert_eq!(ids(&apps, "applications"), vec![w.apps[0], w.apps[1]]);
        let weather = &apps["applications"][0];
        assert_eq!(weather["name"], "Прил Weather");
        assert_eq!(weather["system_name"], "weather");
        assert_eq!(weather["type"], "web");
        assert_eq!(weather["show_in_main_menu"], 0);
        assert_eq!(weather["css_style"], "dark");
        assert_eq!(weather["icon_focus"], "f.png");
        assert_eq!(weather["attrs"]["city"], "Springfield");
        assert_eq!(apps["applications"][1]["attrs"], serde_json::json!({}));

        // Malformed filters, and no session.
        for (name, value) in [("city_id", "x"), ("category_id", "-1"), ("icon_width", "0")] {
            let r = s.tv("camera/list", &[k, (name, value)]).await;
            assert_eq!(r["error"], 400, "{name}={value}: {r}");
        }
        for method in ["radio/list", "camera/list", "application/list"] {
            assert_eq!(s.tv(method, &[]).await["error"], 403, "{method}");
            let r = s.tv(method, &[("authkey", "nope")]).await;
            assert_eq!(r["error"], 403, "{method}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn video_list_filters_pages_and_localises() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let v = &w.videos;

        // Open and enabled only, newest first.
        let all = s.tv_ok("video/list", &[k]).await;
        assert_eq!(all["count"], 3, "{}: {all}", s.label());
        assert_eq!(ids(&all, "videos"), vec![v[2], v[1], v[0]]);
        let matrix = &all["videos"][2];
        assert_eq!(matrix["name"], "Matrix");
        assert_eq!(matrix["name_orig"], "The Matrix");
        assert_eq!(matrix["year"], 1999);
        assert_eq!(matrix["genres"], "Drama, Comedy");
        assert_eq!(matrix["actors"], "Keanu, Carrie");
        assert_eq!(matrix["director"], "Wachowski");
        assert_eq!(matrix["countries"], "US");
        assert_eq!(matrix["description"], "About");
        assert_eq!(matrix["kinopoisk_rating"], "8.5");
        assert_eq!(matrix["duration"], 8160);
        assert_eq!(matrix["is_season"], 0);
        assert_eq!(matrix["is_4k"], 1);
        assert_eq!(matrix["has_subscription"], 1);
        assert_eq!(matrix["is_favorited"], 0);
        assert_eq!(matrix["is_purchased"], 0);
        let files = matrix["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "trailers are not files: {matrix}");
        assert_eq!(files[0]["id"], w.files[0]);
        assert_eq!(files[0]["ext_id"], "ext-1");
        assert_eq!(files[0]["quality"], "HD");
        assert_eq!(files[0]["position"], 0);
        assert_eq!(all["videos"][0]["is_season"], 1);
        assert_eq!(all["videos"][0]["files"], serde_json::json!([]));

        let ru = s.tv_ok("video/list", &[k, ("lang", "ru")]).await;
        assert_eq!(ru["videos"][2]["name"], "Фильм Matrix");
        assert_eq!(ru["videos"][2]["genres"], "Драма, Комедия");
        assert_eq!(ru["videos"][2]["description"], "Про");

        // Paging keeps the total count.
        let page = s
            .tv_ok("video/list", &[k, ("limit", "2"), ("page", "2")])
            .await;
        assert_eq!(page["count"], 3);
        assert_eq!(ids(&page, "videos"), vec![v[0]]);
        let beyond = s
            .tv_ok("video/list", &[k, ("limit", "2"), ("page", "9")])
            .await;
        assert_eq!(beyond["count"], 3);
        assert!(ids(&beyond, "videos").is_empty());
        let big = s.tv_ok("video/list", &[k, ("limit", "1000")]).await;
        assert_eq!(ids(&big, "videos").len(), 3, "limit is capped, not refused");

        // Filters.
        let drama = w.genres[0].to_string();
        let comedy = w.genres[1].to_string();
        let by_genre = s.tv_ok("video/list", &[k, ("gid", &drama)]).await;
        assert_eq!(ids(&by_genre, "videos"), vec![v[0]], "closed drama hidden");
        assert_eq!(by_genre["count"], 1);
        let by_genre = s.tv_ok("video/list", &[k, ("gid", &comedy)]).await;
        assert_eq!(ids(&by_genre, "videos"), vec![v[1], v[0]]);
        let by_year = s.tv_ok("video/list", &[k, ("year", "2005")]).await;
        assert_eq!(ids(&by_year, "videos"), vec![v[1]]);
        for (q, expect) in [
            ("матрица", vec![]),
            ("MATRIX", vec![v[0]]),
            ("the mat", vec![v[0]]),
            ("комедия", vec![v[1]]),
            ("night", vec![v[1]]),
            ("closed", vec![]),
        ] {
            let found = s.tv_ok("video/list", &[k, ("search", q)]).await;
            assert_eq!(ids(&found, "videos"), expect, "search {q}: {found}");
            assert_eq!(found["count"], expect.len());
        }
        let localised = s
            .tv_ok("video/list", &[k, ("search", "фильм m"), ("lang", "ru")])
            .await;
        assert_eq!(ids(&localised, "videos"), vec![v[0]]);
        let by_name = ids(
            &s.tv_ok("video/list", &[k, ("order", "name")]).await,
            "videos",
        );
        assert_eq!(by_name.len(), 3);
        assert_eq!(by_name[0], v[0], "{by_name:?}");
        assert_eq!(by_name[1], v[2], "{by_name:?}");
        let oldest = s.tv_ok("video/list", &[k, ("order", "created_at")]).await;
        assert_eq!(ids(&oldest, "videos"), vec![v[0], v[1], v[2]]);

        for (name, value) in [
            ("limit", "0"),
            ("limit", "x"),
            ("page", "0"),
            ("gid", "abc"),
            ("year", "99999"),
            ("order", "rating; DROP TABLE video"),
        ] {
            let r = s.tv("video/list", &[k, (name, value)]).await;
            assert_eq!(r["error"], 400, "{name}={value}: {r}");
        }
        assert_eq!(s.tv("video/list", &[]).await["error"], 403);
        s.stop().await;
    }
}

#[tokio::test]
async fn video_detail_and_episodes_need_access() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let vid = w.videos[0].to_string();

        let d = s
            .tv_ok("video/detail", &[k, ("vid", &vid), ("lang", "ru")])
            .await;
        assert_eq!(d["id"], w.videos[0]);
        assert_eq!(d["name"], "Фильм Matrix");
        assert_eq!(d["genres"], "Драма, Комедия");
        let actions = d["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 2, "{d}");
        assert_eq!(actions[0]["action"], "get_video_url");
        assert_eq!(actions[0]["file_id"], w.files[0]);
        assert_eq!(actions[1]["action"], "get_trailer_url");
        assert_eq!(actions[1]["file_id"], w.files[1]);
        assert_eq!(d["seasons"], serde_json::json!([]));
        assert_eq!(d["actors_info"][0]["name"], "Keanu");
        assert_eq!(d["actors_info"][0]["name_orig"], "Keanu R.");
        assert_eq!(d["actors_info"].as_array().unwrap().len(), 2);
        assert_eq!(d["files"].as_array().unwrap().len(), 1);

        let series = w.videos[2].to_string();
        let d = s.tv_ok("video/detail", &[k, ("vid", &series)]).await;
        assert_eq!(d["is_season"], 1);
        assert_eq!(d["seasons"][0]["id"], w.season);
        assert_eq!(d["seasons"][0]["name"], "Season 1");
        assert_eq!(d["seasons"][0]["number"], 1);

        let season = w.season.to_string();
        let eps = s
            .tv_ok("video/episode/list", &[k, ("season_id", &season)])
            .await;
        assert_eq!(
            ids(&eps, "episodes"),
            vec![w.episodes[1], w.episodes[0]],
            "by number: {eps}"
        );
        let pilot = &eps["episodes"][0];
        assert_eq!(pilot["name"], "Pilot");
        assert_eq!(pilot["number"], 1);
        assert_eq!(pilot["duration"], 2400);
        assert_eq!(pilot["preview_url"], "http://prev/e.jpg");
        assert_eq!(pilot["is_free"], 1);
        assert_eq!(pilot["files"][0]["ext_id"], "ep-1");
        assert_eq!(pilot["files"][0]["quality"], "SD");
        assert_eq!(eps["episodes"][1]["is_free"], 0);

        // Closed, disabled, unknown, malformed.
        let closed = w.videos[3].to_string();
        let r = s.tv("video/detail", &[k, ("vid", &closed)]).await;
        assert_eq!(r["error"], 11, "{r}");
        let hidden = w.videos[4].to_string();
        assert_eq!(
            s.tv("video/detail", &[k, ("vid", &hidden)]).await["error"],
            404
        );
        assert_eq!(
            s.tv("video/detail", &[k, ("vid", "987654")]).await["error"],
            404
        );
        for bad in ["", "abc", "-3", "1.5", "99999999999999999999"] {
            let r = s.tv("video/detail", &[k, ("vid", bad)]).await;
            assert_eq!(r["error"], 400, "vid={bad}: {r}");
        }
        assert_eq!(s.tv("video/detail", &[k]).await["error"], 400);
        let closed_season = w.closed_season.to_string();
        let r = s
            .tv("video/episode/list", &[k, ("season_id", &closed_season)])
            .await;
        assert_eq!(r["error"], 11, "{r}");
        let r = s
            .tv("video/episode/list", &[k, ("season_id", "987654")])
            .await;
        assert_eq!(r["error"], 404);
        let r = s.tv("video/episode/list", &[k, ("season_id", "x")]).await;
        assert_eq!(r["error"], 400);
        assert_eq!(s.tv("video/detail", &[("vid", &vid)]).await["error"], 403);
        assert_eq!(
            s.tv("video/episode/list", &[("season_id", &season)]).await["error"],
            403
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn vod_and_catch_up_urls() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let vid = w.videos[0].to_string();
        let vfid = w.files[0].to_string();

        let url = s
            .tv_ok(
                "video/url",
                &[k, ("vid", &vid), ("vfid", &vfid), ("redirect", "0")],
            )
            .await;
        assert_eq!(url["stream_service_id"], w.vod);
        assert_eq!(url["ext_id"], "ext-1");
        let uri = url["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("http://vod.edge.invalid/films/matrix.mp4/index.m3u8?token="),
            "{uri}"
        );
        assert!(uri.contains("&md5=") && uri.contains("&expires="), "{uri}");
        // The token names the file and checks out with the streaming server.
        let query: std::collections::HashMap<String, String> = reqwest::Url::parse(uri)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let (claims, _, _) =
            efir_middleware::device::urls::decode_token(&query["token"]).expect("a token");
        assert_eq!(claims.content, "films/matrix.mp4");
        assert_eq!(claims.account_id, w.account);
        // Without vfid: the film, not the trailer.
        let default = s
            .tv_ok("video/url", &[k, ("vid", &vid), ("redirect", "0")])
            .await;
        assert!(default["uri"]
            .as_str()
            .unwrap()
            .contains("/films/matrix.mp4/"));
        // An episode's file, as the episode list names it.
        let season = w.season.to_string();
        let eps = s
            .tv_ok("video/episode/list", &[k, ("season_id", &season)])
            .await;
        let ep_file = eps["episodes"][0]["files"][0]["id"].to_string();
        let series = w.videos[2].to_string();
        let ep = s
            .tv_ok(
                "video/url",
                &[k, ("vid", &series), ("vfid", &ep_file), ("redirect", "0")],
            )
            .await;
        assert!(
            ep["uri"].as_str().unwrap().contains("/series/1.mp4/"),
            "{ep}"
        );
        assert_eq!(ep["ext_id"], "ep-1");
        let r = s
            .tv("video/url", &[k, ("vid", &series), ("redirect", "0")])
            .await;
        assert_eq!(r["error"], 404, "a series has no film file: {r}");

        // 302 by default. (Never followed: the edge is not a real host.)
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let client_id = s.client.id.to_string();
        let res = no_follow
            .get(format!("{}/tvmiddleware/api/video/url/", s.base))
            .query(&[
                ("client_id", client_id.as_str()),
                ("authkey", &key),
                ("vid", &vid),
                ("vfid", &vfid),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("http://vod.edge.invalid/films/matrix.mp4/"),
            "{location}"
        );

        // Refusals.
        let closed = w.videos[3].to_string();
        let r = s
            .tv("video/url", &[k, ("vid", &closed), ("redirect", "0")])
            .await;
        assert_eq!(r["error"], 11, "{r}");
        let r = s
            .tv(
                "video/url",
                &[
                    k,
                    ("vid", &w.videos[1].to_string()),
                    ("vfid", &vfid),
                    ("redirect", "0"),
                ],
            )
            .await;
        assert_eq!(r["error"], 404, "a file of another video: {r}");
        for (name, value) in [("vid", "x"), ("vfid", "y"), ("exclude_service_id", "z")] {
            let mut params = vec![k, ("vid", vid.as_str()), ("redirect", "0")];
            params.retain(|(n, _)| *n != name);
            params.push((name, value));
            let r = s.tv("video/url", &params).await;
            assert_eq!(r["error"], 400, "{name}={value}: {r}");
        }
        let vod = w.vod.to_string();
        let r = s
            .tv(
                "video/url",
                &[
                    k,
                    ("vid", &vid),
                    ("redirect", "0"),
                    ("exclude_service_id", &vod),
                ],
            )
            .await;
        assert_eq!(r["error"], 10, "no other vod service: {r}");

        // Catch-up within the 3-day archive.
        let now = efir_store::now();
        let cid = w.channels[0].to_string();
        let start = (now - 2 * 86_400).to_string();
        let arch = s
            .tv_ok(
                "program/url",
                &[
                    k,
                    ("cid", &cid),
                    ("time", &start),
                    ("duration", "1800"),
                    ("redirect", "0"),
                ],
            )
            .await;
        assert_eq!(arch["stream_service_id"], w.pvr);
        let uri = arch["uri"].as_str().unwrap();
        assert!(
            uri.starts_with(&format!(
                "http://pvr.edge.invalid/tv/arch/archive-{start}-1800.m3u8?token="
            )),
            "{uri}"
        );
        let recent = (now - 600).to_string();
        let default = s
            .tv_ok(
                "program/url",
                &[k, ("cid", &cid), ("time", &recent), ("redirect", "0")],
            )
            .await;
        assert!(
            default["uri"]
                .as_str()
                .unwrap()
                .contains(&format!("archive-{recent}-10800.m3u8")),
            "three hours by default: {default}"
        );
        let res = no_follow
            .get(format!("{}/tvmiddleware/api/program/url/", s.base))
            .query(&[
                ("client_id", client_id.as_str()),
                ("authkey", &key),
                ("cid", &cid),
                ("time", &recent),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);

        let old = (now - 4 * 86_400).to_string();
        let r = s
            .tv(
                "program/url",
                &[k, ("cid", &cid), ("time", &old), ("redirect", "0")],
            )
            .await;
        assert_eq!(r["error"], 11, "outside the archive: {r}");
        let future = (now + 3600).to_string();
        let r = s
            .tv(
                "program/url",
                &[k, ("cid", &cid), ("time", &future), ("redirect", "0")],
            )
            .await;
        assert_eq!(r["error"], 400, "{r}");
        let live_only = w.channels[1].to_string();
        let r = s
            .tv(
                "program/url",
                &[k, ("cid", &live_only), ("time", &recent), ("redirect", "0")],
            )
            .await;
        assert_eq!(r["error"], 11, "no archive: {r}");
        let closed = w.channels[2].to_string();
        let r = s
            .tv(
                "program/url",
                &[k, ("cid", &closed), ("time", &recent), ("redirect", "0")],
            )
            .await;
        assert_eq!(r["error"], 11, "closed channel: {r}");
        for params in [
            vec![("cid", cid.as_str())],
            vec![("cid", cid.as_str()), ("time", "soon")],
            vec![("cid", "x"), ("time", recent.as_str())],
            vec![("time", recent.as_str())],
            vec![
                ("cid", cid.as_str()),
                ("time", recent.as_str()),
                ("duration", "0"),
            ],
            vec![
                ("cid", cid.as_str()),
                ("time", recent.as_str()),
                ("duration", "-5"),
            ],
        ] {
            let mut all = vec![k, ("redirect", "0")];
            all.extend(params.iter().copied());
            let r = s.tv("program/url", &all).await;
            assert_eq!(r["error"], 400, "{params:?}: {r}");
        }
        // Without a pvr service there is no catch-up.
        exec(
            &s.db.store,
            "UPDATE stream_service SET enabled = FALSE WHERE id = $1",
            &[I(w.pvr)],
        )
        .await;
        let r = s
            .tv(
                "program/url",
                &[k, ("cid", &cid), ("time", &recent), ("redirect", "0")],
            )
            .await;
        assert_eq!(r["error"], 10, "{r}");
        assert_eq!(
            s.tv("program/url", &[("cid", &cid), ("time", &recent)])
                .await["error"],
            403
        );
        assert_eq!(s.tv("video/url", &[("vid", &vid)]).await["error"], 403);
        s.stop().await;
    }
}

#[tokio::test]
async fn messages_are_listed_read_and_deleted() {
    for s in Server::both().await {
        let w = world(&s).await;
        let st = &s.db.store;
        let c = s.client.id;
        for (uuid, account, customer, created, urgent) in [
            ("m-old", Some(w.account), None, 100, false),
            ("m-all", None, Some(w.customer), 200, true),
            ("m-new", Some(w.account), None, 300, false),
            ("m-bob", None, Some(w.other_customer), 400, false),
        ] {
            exec(st, "INSERT INTO message (client_id, uuid, subject, text, urgent, no_confirmation, created_at) VALUES ($1, $2, $3, '<b>Hello</b>', $4, TRUE, $5)",
                &[I(c), S(uuid), S(&format!("About {uuid}")), B(urgent), I(created)]).await;
            if let Some(a) = account {
                exec(
                    st,
                    "UPDATE message SET account_id = $1 WHERE uuid = $2",
                    &[I(a), S(uuid)],
                )
                .await;
            }
            if let Some(cu) = customer {
                exec(
                    st,
                    "UPDATE message SET customer_id = $1 WHERE uuid = $2",
                    &[I(cu), S(uuid)],
                )
                .await;
            }
        }
        exec(st, "INSERT INTO message (client_id, account_id, uuid, deleted, created_at) VALUES ($1, $2, 'm-gone', TRUE, 500)", &[I(c), I(w.account)]).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let uuids = |v: &Value| -> Vec<String> {
            v["messages"]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|m| m["uuid"].as_str().unwrap().to_string())
                .collect()
        };

        let list = s.tv_ok("message/list", &[k]).await;
        assert_eq!(uuids(&list), vec!["m-new", "m-all", "m-old"], "{list}");
        let all = &list["messages"][1];
        assert_eq!(all["subject"], "About m-all");
        assert_eq!(all["created_at"], 200);
        assert_eq!(all["urgent"], 1);
        assert_eq!(all["was_read"], 0);
        assert!(all.get("text").is_none());

        let d = s.tv_ok("message/detail", &[k, ("uuid", "m-all")]).await;
        assert_eq!(d["uuid"], "m-all");
        assert_eq!(d["text"], "<b>Hello</b>");
        assert_eq!(d["no_confirmation"], 1);
        assert_eq!(d["was_read"], 1);
        let list = s.tv_ok("message/list", &[k]).await;
        assert_eq!(list["messages"][1]["was_read"], 1, "read after detail");
        assert_eq!(list["messages"][0]["was_read"], 0);
        let status = s.tv_ok("account/status", &[k]).await;
        assert_eq!(status["has_new_messages"], 1, "m-new and m-old are unread");

        s.tv_ok("message/delete", &[k, ("uuid", "m-new")]).await;
        let list = s.tv_ok("message/list", &[k]).await;
        assert_eq!(uuids(&list), vec!["m-all", "m-old"]);
        for (method, uuid) in [
            ("message/detail", "m-new"),
            ("message/delete", "m-new"),
            ("message/detail", "m-bob"),
            ("message/delete", "m-bob"),
            ("message/detail", "m-gone"),
            ("message/detail", "nope"),
        ] {
            let r = s.tv(method, &[k, ("uuid", uuid)]).await;
            assert_eq!(r["error"], 404, "{method} {uuid}: {r}");
        }
        for method in ["message/detail", "message/delete"] {
            assert_eq!(s.tv(method, &[k]).await["error"], 400, "{method}");
            assert_eq!(s.tv(method, &[k, ("uuid", " ")]).await["error"], 400);
            let long = "u".repeat(500);
            assert_eq!(s.tv(method, &[k, ("uuid", &long)]).await["error"], 400);
            assert_eq!(
                s.tv(method, &[("uuid", "m-old")]).await["error"],
                403,
                "{method}"
            );
        }
        assert_eq!(s.tv("message/list", &[]).await["error"], 403);
        // Bob's message was left alone.
        let bob: i64 = exec(
            st,
            "SELECT COUNT(*) FROM message WHERE uuid = 'm-bob' AND NOT deleted AND NOT was_read",
            &[],
        )
        .await;
        assert_eq!(bob, 1);
        s.stop().await;
    }
}
