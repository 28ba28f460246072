//! The Content API: channels, categories, radio, cameras, applications and
//! VOD, on both databases.

mod common;

use common::Server;
use efir_store::audit::AuditFilter;
use serde_json::Value;

/// Inserts a tariff of operator `client` directly.
async fn tariff(s: &Server, client: i64, name: &str) -> i64 {
    let sql = "INSERT INTO tariff (client_id, name, created_at, updated_at) \
               VALUES ($1, $2, 0, 0) RETURNING id";
    efir_store::with_db!(s.db.store.pool(), p => sqlx::query_scalar(sql)
        .bind(client)
        .bind(name)
        .fetch_one(p)
        .await)
    .unwrap()
}

/// Inserts a customer with one account of the test operator; returns the
/// account's id.
async fn account(s: &Server, abonement: &str) -> i64 {
    let sql = "INSERT INTO customer (client_id, created_at, updated_at) \
               VALUES ($1, 0, 0) RETURNING id";
    let customer: i64 = efir_store::with_db!(s.db.store.pool(), p => sqlx::query_scalar(sql)
        .bind(s.client.id)
        .fetch_one(p)
        .await)
    .unwrap();
    let sql = "INSERT INTO account (client_id, customer_id, abonement, created_at, updated_at) \
               VALUES ($1, $2, $3, 0, 0) RETURNING id";
    efir_store::with_db!(s.db.store.pool(), p => sqlx::query_scalar(sql)
        .bind(s.client.id)
        .bind(customer)
        .bind(abonement)
        .fetch_one(p)
        .await)
    .unwrap()
}

async fn changed_at(s: &Server, account: i64) -> i64 {
    let sql = "SELECT channel_list_changed_at FROM account WHERE id = $1";
    efir_store::with_db!(s.db.store.pool(), p => sqlx::query_scalar(sql)
        .bind(account)
        .fetch_one(p)
        .await)
    .unwrap()
}

async fn reset_changed_at(s: &Server, account: i64) {
    let sql = "UPDATE account SET channel_list_changed_at = 0 WHERE id = $1";
    efir_store::with_db!(s.db.store.pool(), p => sqlx::query(sql)
        .bind(account)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

/// Asserts an error -1 naming every field in `fields`.
fn assert_fields(v: &Value, fields: &[&str]) {
    assert_eq!(v["error"], -1, "{v}");
    for f in fields {
        assert!(
            v["error_fields"][f].is_array(),
            "expected error_fields.{f}: {v}"
        );
    }
}

#[tokio::test]
async fn channel_crud_with_tariffs_paging_and_filters() {
    for s in Server::both().await {
        let t1 = tariff(&s, s.client.id, "Basic").await;
        let t2 = tariff(&s, s.client.id, "Sport").await;
        let t3 = tariff(&s, s.client.id, "Kids").await;
        let (t1s, t2s, t3s) = (t1.to_string(), t2.to_string(), t3.to_string());
        let cat = id_of(
            &s.content_ok("category/create", &[("name", "News"), ("sort", "2")])
                .await,
        );
        let cat_s = cat.to_string();

        let v = s
            .content_ok(
                "channel/create",
                &[
                    ("name", "First"),
                    ("name_lang1", "Первый"),
                    ("category_id", &cat_s),
                    ("epg_channel", "77"),
                    ("uri", "udp://239.0.0.1:1234"),
                    ("recording_days", "7"),
                    ("aspect_ratio", "1"),
                    ("parent_control", "1"),
                    ("option1", "x"),
                    ("sort", "3"),
                    ("tariff_id", &t2s),
                    ("tariff_id", &t1s),
                ],
            )
            .await;
        let first = id_of(&v);
        let ch = &v["channel"];
        assert_eq!(ch["id"], first, "{}", s.label());
        assert_eq!(ch["name"], "First");
        assert_eq!(ch["name_lang1"], "Первый");
        assert_eq!(ch["name_lang2"], Value::Null);
        assert_eq!(ch["category_id"], cat);
        assert_eq!(ch["epg_channel_id"], 77);
        assert_eq!(ch["uri"], "udp://239.0.0.1:1234");
        assert_eq!(ch["recording_days"], 7);
        assert_eq!(ch["aspect_ratio"], 1);
        assert_eq!(ch["enabled"], 1);
        assert_eq!(ch["parent_control"], 1);
        assert_eq!(ch["option1"], "x");
        let mut expected = vec![t1, t2];
        expected.sort();
        assert_eq!(ch["tariffs"], serde_json::json!(expected));

        // Modify: only what is sent changes; tariff_id replaces the set.
        let first_s = first.to_string();
        let v = s
            .content_ok(
                "channel/modify",
                &[("id", &first_s), ("name", "First HD"), ("tariff_id", &t3s)],
            )
            .await;
        assert_eq!(v["channel"]["name"], "First HD");
        assert_eq!(v["channel"]["name_lang1"], "Первый");
        assert_eq!(v["channel"]["recording_days"], 7);
        assert_eq!(v["channel"]["tariffs"], serde_json::json!([t3]));
        let v = s
            .content_ok("channel/modify", &[("id", &first_s), ("enabled", "0")])
            .await;
        assert_eq!(v["channel"]["enabled"], 0);
        assert_eq!(v["channel"]["tariffs"], serde_json::json!([t3]));
        // Clearing the category and the tariffs.
        let v = s
            .content_ok(
                "channel/modify",
                &[
                    ("id", &first_s),
                    ("category_id", ""),
                    ("clear_tariffs", "1"),
                ],
            )
            .await;
        assert_eq!(v["channel"]["category_id"], Value::Null);
        assert_eq!(v["channel"]["tariffs"], serde_json::json!([]));
        s.content_ok(
            "channel/modify",
            &[("id", &first_s), ("category_id", &cat_s)],
        )
        .await;

        // More channels; list order is sort, then id.
        let second = id_of(
            &s.content_ok("channel/create", &[("name", "Second"), ("sort", "1")])
                .await,
        );
        let third = id_of(
            &s.content_ok(
                "channel/create",
                &[("name", "Third"), ("sort", "3"), ("category", &cat_s)],
            )
            .await,
        );
        let v = s.content_ok("channel/list", &[]).await;
        assert_eq!(v["count"], 3);
        assert_eq!(ids(&v["channels"]), vec![second, first, third]);
        let v = s
            .content_ok("channel/list", &[("limit", "2"), ("page", "2")])
            .await;
        assert_eq!(v["count"], 3);
        assert_eq!(ids(&v["channels"]), vec![third]);
        let v = s
            .content_ok("channel/list", &[("category_id", &cat_s)])
            .await;
        assert_eq!(v["count"], 2);
        assert_eq!(ids(&v["channels"]), vec![first, third]);
        assert_eq!(v["channels"][0]["tariffs"], serde_json::json!([]));

        // Delete.
        let second_s = second.to_string();
        let v = s.content_ok("channel/delete", &[("id", &second_s)]).await;
        assert_eq!(v["id"], second);
        let v = s.content("channel/delete", &[("id", &second_s)]).await;
        assert_eq!(v["error"], -1, "{v}");
        assert!(v["error_message"].as_str().unwrap().contains("not found"));
        let v = s
            .content("channel/modify", &[("id", &second_s), ("name", "x")])
            .await;
        assert_eq!(v["error"], -1);
        let v = s.content_ok("channel/list", &[]).await;
        assert_eq!(ids(&v["channels"]), vec![first, third]);

        // Deleting the category leaves the channels without one.
        s.content_ok("category/delete", &[("id", &cat_s)]).await;
        let v = s.content_ok("channel/list", &[]).await;
        assert_eq!(v["channels"][0]["category_id"], Value::Null);
        s.stop().await;
    }
}

#[tokio::test]
async fn categories_radio_cameras_applications_genres_actors() {
    for s in Server::both().await {
        let t = tariff(&s, s.client.id, "Base").await.to_string();
        // Categories.
        let a = id_of(
            &s.content_ok(
                "category/create",
                &[
                    ("name", "Movies"),
                    ("name_lang2", "Фільми"),
                    ("color", "#ff0000"),
                    ("sort", "5"),
                ],
            )
            .await,
        );
        let b = id_of(
            &s.content_ok("category/create", &[("name", "Kids"), ("sort", "1")])
                .await,
        );
        let v = s.content_ok("category/list", &[]).await;
        assert_eq!(ids(&v["categories"]), vec![b, a], "{}", s.label());
        assert_eq!(v["categories"][1]["name_lang2"], "Фільми");
        let v = s
            .content_ok(
                "category/modify",
                &[("id", &a.to_string()), ("sort", "0"), ("color", "")],
            )
            .await;
        assert_eq!(v["category"]["color"], "");
        assert_eq!(v["category"]["name"], "Movies");
        let v = s.content_ok("category/list", &[]).await;
        assert_eq!(ids(&v["categories"]), vec![a, b]);

        // Radio.
        let v = s
            .content_ok(
                "radio/create",
                &[
                    ("name", "Jazz FM"),
                    ("url", "http://radio.example/jazz"),
                    ("logo_url", "https://img.example/jazz.png"),
                    ("tariff_id", &t),
                ],
            )
            .await;
        let r = id_of(&v);
        assert_eq!(v["radio"]["url"], "http://radio.example/jazz");
        assert_eq!(v["radio"]["tariffs"][0].to_string(), t);
        let v = s
            .content_ok(
                "radio/modify",
                &[("id", &r.to_string()), ("enabled", "false")],
            )
            .await;
        assert_eq!(v["radio"]["enabled"], 0);
        let v = s.content_ok("radio/list", &[]).await;
        assert_eq!(ids(&v["radio"]), vec![r]);
        s.content_ok("radio/delete", &[("id", &r.to_string())])
            .await;
        let v = s.content_ok("radio/list", &[]).await;
        assert_eq!(v["count"], 0);

        // Cameras, filtered by category.
        let cam = id_of(
            &s.content_ok(
                "camera/create",
                &[
                    ("name", "Square"),
                    ("url", "rtsp://cam.example/1"),
                    ("category_id", &b.to_string()),
                    ("recording_days", "3"),
                ],
            )
            .await,
        );
        let other = id_of(&s.content_ok("camera/create", &[("name", "Gate")]).await);
        let v = s
            .content_ok("camera/list", &[("category_id", &b.to_string())])
            .await;
        assert_eq!(ids(&v["cameras"]), vec![cam]);
        assert_eq!(v["cameras"][0]["recording_days"], 3);
        let v = s
            .content("camera/create", &[("name", "X"), ("city_id", "999")])
            .await;
        assert_fields(&v, &["city_id"]);
        s.content_ok(
            "camera/modify",
            &[("id", &other.to_string()), ("tariff_id", &t)],
        )
        .await;
        s.content_ok("camera/delete", &[("id", &cam.to_string())])
            .await;
        let v = s.content_ok("camera/list", &[]).await;
        assert_eq!(ids(&v["cameras"]), vec![other]);
        assert_eq!(v["cameras"][0]["tariffs"][0].to_string(), t);

        // Applications.
        let v = s
            .content_ok(
                "application/create",
                &[
                    ("name", "Weather"),
                    ("type", "web"),
                    ("url", "https://weather.example"),
                    ("attrs", r#"{"city":"Riga"}"#),
                ],
            )
            .await;
        assert_eq!(v["application"]["type"], "web");
        assert_eq!(v["application"]["attrs"]["city"], "Riga");
        let v = s
            .content("application/create", &[("name", "Bad"), ("attrs", "[1]")])
            .await;
        assert_fields(&v, &["attrs"]);

        // Genres and actors.
        let g = id_of(
            &s.content_ok("genre/create", &[("name", "Drama"), ("is_category", "1")])
                .await,
        );
        let v = s.content_ok("genre/list", &[]).await;
        assert_eq!(ids(&v["genres"]), vec![g]);
        assert_eq!(v["genres"][0]["is_category"], 1);
        let actor = id_of(
            &s.content_ok(
                "actor/create",
                &[("name", "Jane Doe"), ("name_orig", "Jane Doe")],
            )
            .await,
        );
        let v = s.content_ok("actor/list", &[]).await;
        assert_eq!(ids(&v["actors"]), vec![actor]);

        // Videos link genres and actors like tariffs.
        let (gs, actor_s) = (g.to_string(), actor.to_string());
        let v = s
            .content_ok(
                "video/create",
                &[("name", "Film"), ("genre_id", &gs), ("actor_id", &actor_s)],
            )
            .await;
        let film = id_of(&v).to_string();
        assert_eq!(v["video"]["genres"], serde_json::json!([g]));
        assert_eq!(v["video"]["actors"], serde_json::json!([actor]));
        assert_eq!(v["video"]["tariffs"], serde_json::json!([]));
        let v = s
            .content_ok("video/modify", &[("id", &film), ("clear_genres", "1")])
            .await;
        assert_eq!(v["video"]["genres"], serde_json::json!([]));
        assert_eq!(v["video"]["actors"], serde_json::json!([actor]));
        let v = s
            .content("video/modify", &[("id", &film), ("genre_id", "424242")])
            .await;
        assert_fields(&v, &["genre_id"]);
        let v = s
            .content("channel/create", &[("name", "C"), ("actor_id", &actor_s)])
            .await;
        assert_fields(&v, &["actor_id"]);
        // Deleting an actor unlinks it; a deleted genre cannot be linked.
        s.content_ok("actor/delete", &[("id", &actor_s)]).await;
        let v = s.content_ok("video/list", &[]).await;
        assert_eq!(v["videos"][0]["actors"], serde_json::json!([]));
        s.content_ok("genre/delete", &[("id", &gs)]).await;
        let v = s
            .content("video/modify", &[("id", &film), ("genre_id", &gs)])
            .await;
        assert_fields(&v, &["genre_id"]);
        s.stop().await;
    }
}

#[tokio::test]
async fn video_season_episode_file_chain() {
    for s in Server::both().await {
        let t = tariff(&s, s.client.id, "VOD").await.to_string();
        let v = s
            .content_ok(
                "video/create",
                &[
                    ("name", "Series"),
                    ("ext_id", "ext-1"),
                    ("name_lang1", "Сериал"),
                    ("description", "About"),
                    ("description_lang1", "О сериале"),
                    ("year", "2020"),
                    ("is_season", "1"),
                    ("thumbnail_small", "https://img.example/s.jpg"),
                    ("tariff_id", &t),
                ],
            )
            .await;
        let video = id_of(&v);
        let vs = video.to_string();
        assert_eq!(
            v["video"]["description_lang1"],
            "О сериале",
            "{}",
            s.label()
        );
        assert_eq!(v["video"]["year"], 2020);
        assert_eq!(v["video"]["is_season"], 1);
        // ext_id is unique per operator.
        let v = s
            .content("video/create", &[("name", "Dup"), ("ext_id", "ext-1")])
            .await;
        assert_fields(&v, &["ext_id"]);
        let film = id_of(&s.content_ok("video/create", &[("name", "Film")]).await);

        let season = id_of(
            &s.content_ok(
                "season/create",
                &[("video_id", &vs), ("name", "Season 1"), ("number", "1")],
            )
            .await,
        );
        let ss = season.to_string();
        let v = s
            .content_ok(
                "episode/create",
                &[
                    ("season_id", &ss),
                    ("name", "Pilot"),
                    ("number", "1"),
                    ("duration", "2400"),
                    ("is_free", "1"),
                ],
            )
            .await;
        let episode = id_of(&v);
        assert_eq!(v["episode"]["is_free"], 1);
        let es = episode.to_string();
        let v = s
            .content_ok(
                "video/file/create",
                &[
                    ("video_id", &vs),
                    ("episode_id", &es),
                    ("filename", "series/s1e1.mp4"),
                    ("quality", "HD"),
                ],
            )
            .await;
        let file = id_of(&v);
        assert_eq!(v["file"]["episode_id"], episode);
        let trailer = id_of(
            &s.content_ok(
                "file/create",
                &[
                    ("video_id", &vs),
                    ("filename", "series/trailer.mp4"),
                    ("is_trailer", "1"),
                ],
            )
            .await,
        );
        // An episode of another video does not fit.
        let v = s
            .content(
                "file/create",
                &[
                    ("video_id", &film.to_string()),
                    ("episode_id", &es),
                    ("filename", "x.mp4"),
                ],
            )
            .await;
        assert_fields(&v, &["episode_id"]);
        // Required parents.
        let v = s.content("file/create", &[("name", "x")]).await;
        assert_fields(&v, &["video_id", "filename"]);
        let v = s.content("season/create", &[("name", "x")]).await;
        assert_fields(&v, &["video_id"]);
        let v = s.content("episode/create", &[("season_id", "12345")]).await;
        assert_fields(&v, &["season_id"]);

        let v = s.content_ok("file/list", &[("video_id", &vs)]).await;
        assert_eq!(ids(&v["files"]), vec![file, trailer]);
        let v = s
            .content_ok(
                "video/file/modify",
                &[("id", &file.to_string()), ("quality", "4K")],
            )
            .await;
        assert_eq!(v["file"]["quality"], "4K");
        assert_eq!(v["file"]["filename"], "series/s1e1.mp4");
        let v = s.content_ok("season/list", &[("video_id", &vs)]).await;
        assert_eq!(ids(&v["seasons"]), vec![season]);
        let v = s.content_ok("episode/list", &[("season_id", &ss)]).await;
        assert_eq!(ids(&v["episodes"]), vec![episode]);
        let v = s
            .content_ok("episode/modify", &[("id", &es), ("name", "Pilot (HD)")])
            .await;
        assert_eq!(v["episode"]["name"], "Pilot (HD)");
        let v = s.content_ok("video/list", &[]).await;
        assert_eq!(ids(&v["videos"]), vec![video, film]);
        assert_eq!(v["videos"][0]["tariffs"][0].to_string(), t);

        // Deleting the video takes its seasons, episodes and files.
        s.content_ok("video/delete", &[("id", &vs)]).await;
        for (method, key) in [
            ("season/list", "seasons"),
            ("episode/list", "episodes"),
            ("file/list", "files"),
        ] {
            let v = s.content_ok(method, &[]).await;
            assert_eq!(v["count"], 0, "{method}: {v}");
            assert_eq!(v[key], serde_json::json!([]));
        }
        let v = s
            .content("season/modify", &[("id", &ss), ("name", "x")])
            .await;
        assert_eq!(v["error"], -1);
        let v = s.content_ok("video/list", &[]).await;
        assert_eq!(ids(&v["videos"]), vec![film]);
        s.stop().await;
    }
}

#[tokio::test]
async fn channel_changes_mark_channel_lists_changed() {
    for s in Server::both().await {
        let acc = account(&s, "1001").await;
        assert_eq!(changed_at(&s, acc).await, 0);
        let ch = id_of(&s.content_ok("channel/create", &[("name", "One")]).await).to_string();
        assert!(changed_at(&s, acc).await > 0, "{}: create", s.label());
        reset_changed_at(&s, acc).await;
        let t = tariff(&s, s.client.id, "T").await.to_string();
        s.content_ok("channel/modify", &[("id", &ch), ("tariff_id", &t)])
            .await;
        assert!(changed_at(&s, acc).await > 0, "modify");
        reset_changed_at(&s, acc).await;
        // Radio does not touch channel lists.
        s.content_ok("radio/create", &[("name", "R")]).await;
        assert_eq!(changed_at(&s, acc).await, 0);
        s.content_ok("channel/delete", &[("id", &ch)]).await;
        assert!(changed_at(&s, acc).await > 0, "delete");
        s.stop().await;
    }
}

#[tokio::test]
async fn other_operators_objects_are_invisible() {
    for s in Server::both().await {
        let key = common::OTHER_CONTENT_KEY;
        let other = s.other_operator().await.id;
        let their_cat = id_of(
            &s.signed_as(
                other,
                "content",
                key,
                "category/create",
                &[("name", "Theirs")],
            )
            .await,
        )
        .to_string();
        let their_ch = id_of(
            &s.signed_as(
                other,
                "content",
                key,
                "channel/create",
                &[("name", "Their channel"), ("category_id", &their_cat)],
            )
            .await,
        )
        .to_string();
        let their_video = id_of(
            &s.signed_as(
                other,
                "content",
                key,
                "video/create",
                &[("name", "Their film")],
            )
            .await,
        )
        .to_string();
        let their_tariff = tariff(&s, other, "Theirs").await.to_string();
        // Our key does not sign their calls.
        let v = s
            .signed_as(other, "content", common::CONTENT_KEY, "channel/list", &[])
            .await;
        assert_eq!(v["error"], -2);

        let v = s.content_ok("channel/list", &[]).await;
        assert_eq!(v["count"], 0, "{}: {v}", s.label());
        assert_eq!(s.content_ok("category/list", &[]).await["count"], 0);
        assert_eq!(s.content_ok("video/list", &[]).await["count"], 0);
        for method in ["channel/modify", "channel/delete"] {
            let v = s
                .content(method, &[("id", &their_ch), ("name", "Mine")])
                .await;
            assert_eq!(v["error"], -1, "{method}: {v}");
            assert!(v["error_message"].as_str().unwrap().contains("not found"));
        }
        let v = s.content("video/delete", &[("id", &their_video)]).await;
        assert_eq!(v["error"], -1);
        let v = s
            .content(
                "channel/create",
                &[
                    ("name", "Mine"),
                    ("category_id", &their_cat),
                    ("tariff_id", &their_tariff),
                ],
            )
            .await;
        assert_fields(&v, &["category_id", "tariff_id"]);
        let v = s
            .content("season/create", &[("video_id", &their_video)])
            .await;
        assert_fields(&v, &["video_id"]);
        // Theirs are untouched.
        let v = s
            .signed_as(other, "content", key, "channel/list", &[])
            .await;
        assert_eq!(v["channels"][0]["name"], "Their channel");
        assert_eq!(s.content_ok("channel/list", &[]).await["count"], 0);
        s.stop().await;
    }
}

#[tokio::test]
async fn malformed_input_is_reported_per_field() {
    for s in Server::both().await {
        let v = s
            .content(
                "channel/create",
                &[
                    ("recording_days", "400"),
                    ("aspect_ratio", "9"),
                    ("enabled", "2"),
                    ("uri", "ftp://x/y"),
                    ("category_id", "abc"),
                    ("tariff_id", "x"),
                    ("sort", "1.5"),
                ],
            )
            .await;
        assert_fields(
            &v,
            &[
                "name",
                "recording_days",
                "aspect_ratio",
                "enabled",
                "uri",
                "category_id",
                "tariff_id",
                "sort",
            ],
        );
        let long = "x".repeat(300);
        let v = s
            .content("channel/create", &[("name", &long), ("url_prefix", "nope")])
            .await;
        assert_fields(&v, &["name", "url_prefix"]);
        let v = s
            .content("channel/create", &[("name", "a\0b"), ("name_lang1", "ok")])
            .await;
        assert_fields(&v, &["name"]);
        let v = s.content("channel/create", &[("name", "  ")]).await;
        assert_fields(&v, &["name"]);
        for (k, val) in [
            ("limit", "5000"),
            ("limit", "0"),
            ("page", "0"),
            ("page", "x"),
        ] {
            let v = s.content("channel/list", &[(k, val)]).await;
            assert_fields(&v, &[k]);
        }
        let v = s.content("channel/list", &[("category_id", "z")]).await;
        assert_fields(&v, &["category_id"]);
        for id in ["", "abc"] {
            let v = s.content("channel/modify", &[("id", id)]).await;
            assert_fields(&v, &["id"]);
        }
        let v = s.content("channel/delete", &[]).await;
        assert_fields(&v, &["id"]);
        let ch = id_of(&s.content_ok("channel/create", &[("name", "Ok")]).await).to_string();
        let v = s
            .content("channel/modify", &[("id", &ch), ("name", "")])
            .await;
        assert_fields(&v, &["name"]);
        let v = s
            .content(
                "radio/create",
                &[("name", "R"), ("url", "javascript:alert(1)")],
            )
            .await;
        assert_fields(&v, &["url"]);
        let v = s
            .content("category/create", &[("name", "C"), ("tariff_id", "1")])
            .await;
        assert_fields(&v, &["tariff_id"]);
        let v = s
            .content("video/create", &[("name", "V"), ("year", "20000")])
            .await;
        assert_fields(&v, &["year"]);
        for method in ["channel/frobnicate", "nothing/list", "channel"] {
            let v = s.content(method, &[]).await;
            assert_eq!(v["error"], -1, "{method}: {v}");
        }
        // Nothing was written by the failed calls.
        let v = s.content_ok("channel/list", &[]).await;
        assert_eq!(v["count"], 1, "{}", s.label());
        s.stop().await;
    }
}

#[tokio::test]
async fn every_write_is_audited_as_the_content_api() {
    for s in Server::both().await {
        let filter = AuditFilter {
            client_id: Some(s.client.id),
            limit: 1000,
            ..AuditFilter::default()
        };
        let before = s.db.store.audit_events(&filter).await.unwrap().len();
        let ch = id_of(&s.content_ok("channel/create", &[("name", "A")]).await).to_string();
        s.content_ok("channel/modify", &[("id", &ch), ("name", "B")])
            .await;
        let video = id_of(&s.content_ok("video/create", &[("name", "V")]).await).to_string();
        s.content_ok("season/create", &[("video_id", &video)]).await;
        s.content_ok("channel/delete", &[("id", &ch)]).await;
        s.content_ok("channel/list", &[]).await;
        let events = s.db.store.audit_events(&filter).await.unwrap();
        let new: Vec<_> = events[..events.len() - before].to_vec();
        assert_eq!(new.len(), 5, "{}: {new:?}", s.label());
        for e in &new {
            assert!(e.actor.starts_with("api:content:"), "{e:?}");
        }
        let actions: Vec<(&str, &str)> = new
            .iter()
            .rev()
            .map(|e| (e.action.as_str(), e.entity.as_str()))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("create", "channel"),
                ("modify", "channel"),
                ("create", "video"),
                ("create", "season"),
                ("delete", "channel"),
            ]
        );
        assert_eq!(new[0].entity_id.as_deref(), Some(ch.as_str()));
        assert!(new[0].data.contains(r#""name":"B""#), "{:?}", new[0]);
        assert!(new[4].data.contains(r#""name":"A""#), "{:?}", new[4]);
        s.stop().await;
    }
}
