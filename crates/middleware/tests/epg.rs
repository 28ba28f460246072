//! The programme guide over the device API (`channel/programs`,
//! `program/list`, `channel/list/programs`, `program/detail`,
//! `program/list/search`, `premiere/list`, the now/next of `channel/list`
//! and `program/url` by programme), on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{exec, Arg};

use common::Server;
use efir_store::Store;
use serde_json::Value;

use Arg::{I, S};

const H: i64 = 3600;
/// 2020-01-15 00:00 UTC.
const JAN_15_2020: i64 = 1_579_046_400;

/// The guide: EPG channel `main` (shown by channels Main and Main HD)
/// with Morning news (now-3h..now-1h), Current show (now-1h..now+1h,
/// Russian texts, category News, credits), Next show, Later show (a
/// premiere), Film 50% off, and two programmes of 2020-01-15; EPG channel
/// `secret` (shown only by Closed, in a tariff the account lacks) with
/// Closed show and a premiere; EPG channel `iconic` with a stored icon
/// set, shown by Iconic, which has no icon of its own. Channel No guide
/// has no EPG channel. Account `1001`/`pw`.
struct World {
    now: i64,
    main: i64,
    main_hd: i64,
    no_guide: i64,
    closed: i64,
    iconic: i64,
    morning: i64,
    current: i64,
    next: i64,
    later: i64,
    film: i64,
    old: i64,
    late: i64,
    closed_show: i64,
    iconic_show: i64,
    pvr: i64,
}

/// Inserts a programme; returns its id.
async fn programme(st: &Store, epg: i64, start: i64, stop: i64, title: &str) -> i64 {
    exec(
        st,
        "INSERT INTO epg_programme (epg_channel_id, start_at, stop_at, title, hash) \
         VALUES ($1, $2, $3, $4, 'h') RETURNING id",
        &[I(epg), I(start), I(stop), S(title)],
    )
    .await
}

/// Inserts a premiere of programme `id`.
async fn premiere(st: &Store, epg: i64, id: i64, start: i64) {
    exec(
        st,
        "UPDATE epg_programme SET premiere = TRUE WHERE id = $1",
        &[I(id)],
    )
    .await;
    exec(
        st,
        "INSERT INTO epg_premiere (epg_programme_id, epg_channel_id, start_at, created_at) \
         VALUES ($1, $2, $3, 0)",
        &[I(id), I(epg), I(start)],
    )
    .await;
}

/// An EPG channel `ext_id` of `source`.
async fn epg_channel(st: &Store, source: i64, ext_id: &str, icon_key: &str) -> i64 {
    exec(
        st,
        "INSERT INTO epg_channel (source_id, ext_id, name, icon_key, created_at, updated_at) \
         VALUES ($1, $2, $2, $3, 0, 0) RETURNING id",
        &[I(source), S(ext_id), S(icon_key)],
    )
    .await
}

async fn world(s: &Server) -> World {
    let st = &s.db.store;
    let now = efir_store::now();
    let source = exec(
        st,
        "INSERT INTO epg_source (name, url, created_at, updated_at) \
         VALUES ('Guide', 'http://guide.invalid/tv.xml', 0, 0) RETURNING id",
        &[],
    )
    .await;
    let main_epg = epg_channel(st, source, "main", "").await;
    let secret_epg = epg_channel(st, source, "secret", "").await;
    let iconic_epg = epg_channel(st, source, "iconic", "epg/9").await;
    let news = exec(
        st,
        "INSERT INTO epg_category (name, names, created_at) \
         VALUES ('News', '{\"ru\": \"Новости\"}', 0) RETURNING id",
        &[],
    )
    .await;

    let morning = programme(st, main_epg, now - 3 * H, now - H, "Morning news").await;
    let current = programme(st, main_epg, now - H, now + H, "Current show").await;
    exec(
        st,
        "UPDATE epg_programme SET sub_title = 'Pilot', description = 'Today', \
         i18n = $1, category_id = $2, genres = '[\"News\", \"Talk\"]', details = $3, \
         year = 2020, icon = 'http://img.invalid/cur.jpg', rating = '16+' WHERE id = $4",
        &[
            S(r#"{"ru": {"title": "Текущее шоу", "sub_title": "Пилот", "description": "Сегодня"}}"#),
            I(news),
            S(r#"{"credits": [{"kind": "actor", "name": "Ann", "role": "Host"}, {"kind": "director", "name": "Bob", "role": null}], "countries": ["RU"]}"#),
            I(current),
        ],
    )
    .await;
    let next = programme(st, main_epg, now + H, now + 2 * H, "Next show").await;
    let later = programme(st, main_epg, now + 2 * H, now + 3 * H, "Later show").await;
    premiere(st, main_epg, later, now + 2 * H).await;
    let film = programme(st, main_epg, now + 3 * H, now + 4 * H, "Film 50% off").await;
    let old = programme(
        st,
        main_epg,
        JAN_15_2020 + 10 * H,
        JAN_15_2020 + 11 * H,
        "Old film",
    )
    .await;
    let late = programme(
        st,
        main_epg,
        JAN_15_2020 + 23 * H,
        JAN_15_2020 + 23 * H + 1800,
        "Late film",
    )
    .await;
    let closed_show = programme(st, secret_epg, now - H, now + H, "Closed show").await;
    let closed_premiere =
        programme(st, secret_epg, now + 2 * H, now + 3 * H, "Closed premiere").await;
    premiere(st, secret_epg, closed_premiere, now + 2 * H).await;
    let iconic_show = programme(st, iconic_epg, now - H, now + H, "Iconic show").await;

    let customer = s.customer("Ann").await;
    let tariff = s.basic_tariff().await;
    let other = s
        .billing_ok(
            "tariff/create",
            &[("name", "Other"), ("basic_tariff_priority", "1")],
        )
        .await;
    let other = other["tariff_id"]
        .as_i64()
        .or(other["id"].as_i64())
        .unwrap()
        .to_string();
    let (main_epg, secret_epg, iconic_epg) = (
        main_epg.to_string(),
        secret_epg.to_string(),
        iconic_epg.to_string(),
    );
    let channel = |fields: Vec<(&'static str, String)>| async move {
        let params: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.content_ok("channel/create", &params).await["id"]
            .as_i64()
            .unwrap()
    };
    let t = || ("tariff_id", tariff.clone());
    let main = channel(vec![
        ("name", "Main".into()),
        t(),
        ("epg_channel_id", main_epg.clone()),
        ("recording_days", "3".into()),
        ("id_for_stream_service", "main".into()),
        ("sort", "1".into()),
    ])
    .await;
    let main_hd = channel(vec![
        ("name", "Main HD".into()),
        t(),
        ("epg_channel_id", main_epg.clone()),
        ("recording_days", "3".into()),
        ("sort", "2".into()),
    ])
    .await;
    let no_guide = channel(vec![("name", "No guide".into()), t(), ("sort", "3".into())]).await;
    let iconic = channel(vec![
        ("name", "Iconic".into()),
        t(),
        ("epg_channel_id", iconic_epg),
        ("sort", "4".into()),
    ])
    .await;
    let closed = channel(vec![
        ("name", "Closed".into()),
        ("tariff_id", other),
        ("epg_channel_id", secret_epg),
        ("recording_days", "3".into()),
    ])
    .await;
    s.account(&customer, &tariff, "1001", "pw", &[]).await;
    let pvr = exec(
        st,
        "INSERT INTO stream_service (client_id, name, service_type, url_mask, created_at) \
         VALUES ($1, 'pvr', 'pvr', 'http://pvr.edge.invalid/$cid/archive-$flpbt-$flpdur.m3u8', 0) \
         RETURNING id",
        &[I(s.client.id)],
    )
    .await;
    World {
        now,
        main,
        main_hd,
        no_guide,
        closed,
        iconic,
        morning,
        current,
        next,
        later,
        film,
        old,
        late,
        closed_show,
        iconic_show,
        pvr,
    }
}

impl Server {
    /// Logs `1001` in; returns the authkey.
    async fn authkey(&self) -> String {
        self.login_key("1001", "pw", "box-1").await
    }

    /// A device call that must fail with `code`.
    async fn fails(&self, code: i64, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.tv(method, params).await;
        assert_eq!(
            v["error"],
            code,
            "{}: {method} {params:?}: {v}",
            self.label()
        );
        v
    }

    /// `POST channel/list/programs/` with form `params`.
    async fn post_programs(&self, params: &[(&str, &str)]) -> Value {
        let mut pairs: Vec<(String, String)> =
            vec![("client_id".into(), self.client.id.to_string())];
        pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let res = self
            .http
            .post(format!(
                "{}/tvmiddleware/api/channel/list/programs/",
                self.base
            ))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

/// The ids of the items of list `name`.
fn ids(v: &Value, name: &str) -> Vec<i64> {
    v[name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name}: {v}"))
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

/// The item of channel `id` in a `channel/list/` answer.
fn channel_item(list: &Value, id: i64) -> Value {
    list["channels"]
        .as_array()
        .unwrap_or_else(|| panic!("no channels: {list}"))
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no channel {id}: {list}"))
        .clone()
}

/// `YYYY-MM-DD HH:MM:SS` of `t`, UTC.
fn datetime(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn now_and_next_of_a_channel() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let main = w.main.to_string();

        let r = s.tv_ok("channel/programs", &[k, ("cid", &main)]).await;
        assert_eq!(
            ids(&r, "programs"),
            vec![w.current, w.next, w.later, w.film],
            "current first, then what follows"
        );
        let p = &r["programs"][0];
        assert_eq!(p["program_name"], "Current show");
        assert_eq!(p["program_begin_time"], w.now - H);
        assert_eq!(p["program_end_time"], w.now + H);
        assert_eq!(p["program_category"], "News");
        assert_eq!(p["program_description"], "Today");
        assert_eq!(p["program_rating"], "16+");
        assert_eq!(p["program_preview_url"], "http://img.invalid/cur.jpg");
        assert_eq!(p["datetime_begin"], datetime(w.now - H));
        assert_eq!(p["datetime_end"], datetime(w.now + H));

        let r = s
            .tv_ok("channel/programs", &[k, ("cid", &main), ("limit", "2")])
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.current, w.next]);
        let r = s
            .tv_ok(
                "channel/programs",
                &[k, ("cid", &main), ("limit", "1"), ("lang", "ru")],
            )
            .await;
        assert_eq!(r["programs"][0]["program_name"], "Текущее шоу");
        assert_eq!(r["programs"][0]["program_description"], "Сегодня");
        assert_eq!(r["programs"][0]["program_category"], "Новости");

        // Two hours behind: what was on two hours ago, shown at its
        // shifted times.
        let r = s
            .tv_ok(
                "channel/programs",
                &[k, ("cid", &main), ("limit", "2"), ("timeshift_offset", "2")],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning, w.current]);
        assert_eq!(
            r["programs"][0]["program_begin_time"],
            w.now - 3 * H + 2 * H
        );
        assert_eq!(r["programs"][0]["datetime_begin"], datetime(w.now - H));

        let hd = w.main_hd.to_string();
        let r = s.tv_ok("channel/programs", &[k, ("cid", &hd)]).await;
        assert_eq!(ids(&r, "programs")[0], w.current, "a shared EPG channel");
        let none = w.no_guide.to_string();
        let r = s.tv_ok("channel/programs", &[k, ("cid", &none)]).await;
        assert_eq!(r["programs"], serde_json::json!([]));
        let closed = w.closed.to_string();
        s.fails(11, "channel/programs", &[k, ("cid", &closed)])
            .await;
        s.fails(11, "channel/programs", &[k, ("cid", "999999")])
            .await;
        s.fails(403, "channel/programs", &[("cid", &main)]).await;
        for bad in [
            vec![k],
            vec![k, ("cid", "x")],
            vec![k, ("cid", &main), ("limit", "0")],
            vec![k, ("cid", &main), ("limit", "many")],
            vec![k, ("cid", &main), ("timeshift_offset", "25")],
            vec![k, ("cid", &main), ("timeshift_offset", "1.5")],
        ] {
            s.fails(400, "channel/programs", &bad).await;
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn programmes_by_time_date_and_programme() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        let main = w.main.to_string();
        let (from, to) = ((w.now - 2 * H).to_string(), (w.now + 90 * 60).to_string());

        let r = s
            .tv_ok(
                "program/list",
                &[k, ("cid", &main), ("time_from", &from), ("time_to", &to)],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning, w.current, w.next]);
        let morning = &r["programs"][0];
        assert_eq!(morning["has_record"], 1, "ended within the archive");
        assert_eq!(r["programs"][1]["has_record"], 0, "not over yet");
        let cur = &r["programs"][1];
        assert_eq!(cur["name"], "Current show");
        assert_eq!(cur["begin_time"], w.now - H);
        assert_eq!(cur["end_time"], w.now + H);
        assert_eq!(cur["category"], "News");
        assert_eq!(cur["preview"], "http://img.invalid/cur.jpg");
        assert_eq!(cur["has_subscription"], 1);
        assert_eq!(cur["meta"]["extra_name"], "Pilot");
        assert_eq!(cur["meta"]["genres"], serde_json::json!(["News", "Talk"]));
        assert_eq!(
            cur["meta"]["participants"],
            serde_json::json!({"actor": ["Ann"], "director": ["Bob"]})
        );
        assert_eq!(cur["meta"]["countries"], serde_json::json!(["RU"]));
        assert_eq!(cur["meta"]["year"], 2020);

        let r = s
            .tv_ok(
                "program/list",
                &[
                    k,
                    ("cid", &main),
                    ("time_from", &from),
                    ("time_to", &to),
                    ("lang", "ru"),
                ],
            )
            .await;
        assert_eq!(r["programs"][1]["name"], "Текущее шоу");
        assert_eq!(r["programs"][1]["meta"]["extra_name"], "Пилот");
        assert_eq!(r["programs"][0]["name"], "Morning news", "no translation");

        // A day in dd.mm.YYYY; with an offset, the shifted day.
        let r = s
            .tv_ok("program/list", &[k, ("cid", &main), ("date", "15.01.2020")])
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.old, w.late]);
        assert_eq!(r["programs"][0]["has_record"], 0, "older than the archive");
        let r = s
            .tv_ok(
                "program/list",
                &[
                    k,
                    ("cid", &main),
                    ("date", "15.01.2020"),
                    ("timeshift_offset", "2"),
                ],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.old], "23:00 is 01:00 next day");
        assert_eq!(r["programs"][0]["begin_time"], JAN_15_2020 + 12 * H);
        let r = s
            .tv_ok("program/list", &[k, ("cid", &main), ("date", "16.01.2020")])
            .await;
        assert!(ids(&r, "programs").is_empty());

        // The shifted window is shifted back: with 2 hours, asking for
        // [now, now+1h) shows what was on two hours ago.
        let (f, t) = (w.now.to_string(), (w.now + H).to_string());
        let r = s
            .tv_ok(
                "program/list",
                &[
                    k,
                    ("cid", &main),
                    ("time_from", &f),
                    ("time_to", &t),
                    ("timeshift_offset", "2"),
                ],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning]);
        assert_eq!(r["programs"][0]["end_time"], w.now + H);

        // From a programme on.
        let pid = w.next.to_string();
        let r = s
            .tv_ok("program/list", &[k, ("cid", &main), ("pid_from", &pid)])
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.next, w.later, w.film]);
        let closed_show = w.closed_show.to_string();
        s.fails(
            404,
            "program/list",
            &[k, ("cid", &main), ("pid_from", &closed_show)],
        )
        .await;

        // The same programmes through the shared EPG channel; none without
        // one; refused for a closed channel.
        let hd = w.main_hd.to_string();
        let r = s
            .tv_ok(
                "program/list",
                &[k, ("cid", &hd), ("time_from", &from), ("time_to", &to)],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning, w.current, w.next]);
        let none = w.no_guide.to_string();
        let r = s
            .tv_ok(
                "program/list",
                &[k, ("cid", &none), ("time_from", &from), ("time_to", &to)],
            )
            .await;
        assert!(ids(&r, "programs").is_empty());
        let closed = w.closed.to_string();
        s.fails(
            11,
            "program/list",
            &[k, ("cid", &closed), ("time_from", &from), ("time_to", &to)],
        )
        .await;

        for bad in [
            vec![k, ("time_from", &from), ("time_to", &to)],
            vec![k, ("cid", &main), ("time_from", &from)],
            vec![k, ("cid", &main), ("time_from", &to), ("time_to", &from)],
            vec![k, ("cid", &main), ("time_from", "x"), ("time_to", &to)],
            vec![k, ("cid", &main), ("time_from", "-5"), ("time_to", &to)],
            vec![
                k,
                ("cid", &main),
                ("time_from", "0"),
                ("time_to", "99999999"),
            ],
            vec![k, ("cid", &main), ("date", "2020-01-15")],
            vec![k, ("cid", &main), ("date", "31.02.2020")],
            vec![k, ("cid", &main), ("pid_from", "x")],
        ] {
            s.fails(400, "program/list", &bad).await;
        }

        // XML for legacy boxes.
        let res = s
            .tv_raw(
                "program/list",
                &[
                    k,
                    ("cid", &main),
                    ("time_from", &from),
                    ("time_to", &to),
                    ("device", "mag"),
                ],
                None,
                None,
            )
            .await;
        let xml = res.text().await.unwrap();
        assert!(
            xml.contains(&format!("<programs><item><id>{}</id>", w.morning)),
            "{xml}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn detail_search_premieres_and_many_channels() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());

        let pid = w.current.to_string();
        let r = s.tv_ok("program/detail", &[k, ("pid", &pid)]).await;
        let p = &r["program"];
        assert_eq!(p["id"], w.current);
        assert_eq!(p["channel_id"], w.main, "the first channel showing it");
        assert_eq!(p["name"], "Current show");
        assert_eq!(p["begin_time"], w.now - H);
        assert_eq!(
            p["meta"]["participants"]["director"],
            serde_json::json!(["Bob"])
        );
        let hd = w.main_hd.to_string();
        let r = s
            .tv_ok("program/detail", &[k, ("pid", &pid), ("cid", &hd)])
            .await;
        assert_eq!(r["program"]["channel_id"], w.main_hd);
        let r = s
            .tv_ok(
                "program/detail",
                &[k, ("pid", &pid), ("timeshift_offset", "-1"), ("lang", "ru")],
            )
            .await;
        assert_eq!(r["program"]["begin_time"], w.now - 2 * H);
        assert_eq!(r["program"]["name"], "Текущее шоу");
        s.fails(404, "program/detail", &[k, ("pid", "999999999")])
            .await;
        let none = w.no_guide.to_string();
        s.fails(404, "program/detail", &[k, ("pid", &pid), ("cid", &none)])
            .await;
        let closed = w.closed_show.to_string();
        s.fails(11, "program/detail", &[k, ("pid", &closed)]).await;
        s.fails(400, "program/detail", &[k]).await;
        s.fails(400, "program/detail", &[k, ("pid", "one")]).await;

        // Search: titles, case aside, only on open channels, from now
        // on; `%` is no wildcard.
        let r = s
            .tv_ok("program/list/search", &[k, ("search", "SHOW")])
            .await;
        assert_eq!(
            ids(&r, "programs"),
            vec![w.current, w.iconic_show, w.next, w.later],
            "not Closed show: {r}"
        );
        assert_eq!(r["programs"][0]["channel_id"], w.main);
        assert_eq!(r["programs"][1]["channel_id"], w.iconic);
        let r = s.tv_ok("program/list/search", &[k, ("query", "50%")]).await;
        assert_eq!(ids(&r, "programs"), vec![w.film]);
        let r = s.tv_ok("program/list/search", &[k, ("query", "5_%")]).await;
        assert!(ids(&r, "programs").is_empty(), "{r}");
        let r = s
            .tv_ok("program/list/search", &[k, ("search", "news")])
            .await;
        assert!(ids(&r, "programs").is_empty(), "Morning news is over");
        let since = (w.now - 4 * H).to_string();
        let r = s
            .tv_ok(
                "program/list/search",
                &[k, ("search", "news"), ("time_from", &since)],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning]);
        let iconic = w.iconic.to_string();
        let r = s
            .tv_ok(
                "program/list/search",
                &[k, ("search", "show"), ("cid", &iconic)],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.iconic_show]);
        let closed_channel = w.closed.to_string();
        s.fails(
            11,
            "program/list/search",
            &[k, ("search", "show"), ("cid", &closed_channel)],
        )
        .await;
        s.fails(400, "program/list/search", &[k]).await;
        s.fails(400, "program/list/search", &[k, ("search", "  ")])
            .await;
        let long = "x".repeat(201);
        s.fails(400, "program/list/search", &[k, ("search", &long)])
            .await;

        // Premieres of the open channels.
        let r = s.tv_ok("premiere/list", &[k]).await;
        assert_eq!(ids(&r, "premieres"), vec![w.later], "{r}");
        assert_eq!(r["premieres"][0]["channel_id"], w.main);
        assert_eq!(r["premieres"][0]["begin_time"], w.now + 2 * H);
        let r = s
            .tv_ok("premiere/list", &[k, ("timeshift_offset", "3")])
            .await;
        assert_eq!(r["premieres"][0]["begin_time"], w.now + 5 * H);
        s.fails(400, "premiere/list", &[k, ("days", "0")]).await;

        // Several channels at once, by POST.
        let list = format!("{},{},{}", w.main, w.closed, w.no_guide);
        let (from, to) = ((w.now - 1800).to_string(), (w.now + 90 * 60).to_string());
        let r = s
            .post_programs(&[
                k,
                ("channel_ids", &list),
                ("programs_from_ts", &from),
                ("programs_to_ts", &to),
                ("lang", "ru"),
            ])
            .await;
        assert_eq!(r["error"], 0, "{r}");
        assert_eq!(ids(&r, "channels"), vec![w.main, w.no_guide], "not Closed");
        let main = &r["channels"][0];
        assert_eq!(main["current_program_id"], w.current);
        assert_eq!(ids(main, "programs"), vec![w.current, w.next]);
        let cur = &main["programs"][0];
        assert_eq!(cur["name"], "Текущее шоу");
        assert_eq!(cur["category"], "Новости");
        assert_eq!(cur["begin_time"], w.now - H);
        assert_eq!(cur["program_genres"], serde_json::json!(["News", "Talk"]));
        assert_eq!(cur["program_meta"]["extra_name"], "Пилот");
        assert_eq!(cur["preview_url"], "http://img.invalid/cur.jpg");
        assert!(r["channels"][1]["current_program_id"].is_null());
        assert_eq!(r["channels"][1]["programs"], serde_json::json!([]));
        let (hd, main_id) = (w.main_hd.to_string(), w.main.to_string());
        let r = s
            .post_programs(&[
                k,
                ("channel_ids", &hd),
                ("channel_ids", &main_id),
                ("timeshift_offset", "2"),
            ])
            .await;
        assert_eq!(ids(&r, "channels"), vec![w.main_hd, w.main], "{r}");
        assert_eq!(r["channels"][0]["current_program_id"], w.morning);
        assert_eq!(
            ids(&r["channels"][0], "programs")[0],
            w.morning,
            "from now, two hours behind"
        );
        for bad in [
            vec![k],
            vec![k, ("channel_ids", "")],
            vec![k, ("channel_ids", "1,x")],
            vec![k, ("channel_ids", &main_id), ("programs_from_ts", "soon")],
            vec![
                k,
                ("channel_ids", &main_id),
                ("programs_from_ts", &to),
                ("programs_to_ts", &from),
            ],
        ] {
            let r = s.post_programs(&bad).await;
            assert_eq!(r["error"], 400, "{bad:?}: {r}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn channel_list_shows_now_and_next_in_the_saved_offset() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());

        let list = s.tv_ok("channel/list", &[k]).await;
        let main = channel_item(&list, w.main);
        assert_eq!(main["program_id"], w.current);
        assert_eq!(main["program_name"], "Current show");
        assert_eq!(main["program_begin_time"], w.now - H);
        assert_eq!(main["program_end_time"], w.now + H);
        assert_eq!(main["program_category"], "News");
        assert!(main["program_category_id"].is_i64());
        assert_eq!(main["program_description"], "Today");
        assert_eq!(main["program_preview_url"], "http://img.invalid/cur.jpg");
        assert_eq!(main["program_rating"], "16+");
        assert_eq!(main["next_program_id"], w.next);
        assert_eq!(main["next_program_name"], "Next show");
        assert_eq!(main["next_program_begin_time"], w.now + H);
        assert_eq!(main["timeshift_offset"], 0);
        assert_eq!(channel_item(&list, w.main_hd)["program_id"], w.current);
        let none = channel_item(&list, w.no_guide);
        assert!(none["program_id"].is_null());
        assert_eq!(none["program_name"], "");
        assert_eq!(none["program_begin_time"], 0);
        let iconic = channel_item(&list, w.iconic);
        assert_eq!(
            iconic["icon"], "/icons/epg/9/120x91.png",
            "the guide's icon"
        );
        let sized = s
            .tv_ok(
                "channel/list",
                &[k, ("icon_width", "40"), ("icon_height", "40")],
            )
            .await;
        assert_eq!(
            channel_item(&sized, w.iconic)["icon"],
            "/icons/epg/9/40x40.png"
        );
        let compact = s.tv_ok("channel/list", &[k, ("compact", "1")]).await;
        let main = channel_item(&compact, w.main);
        assert_eq!(main["program_id"], w.current);
        assert!(main.get("next_program_id").is_none(), "{main}");
        let ru = s.tv_ok("channel/list", &[k, ("lang", "ru")]).await;
        assert_eq!(channel_item(&ru, w.main)["program_name"], "Текущее шоу");
        let v2 = s.tv_ok("v2/channel/list", &[k]).await;
        assert_eq!(
            channel_item(&v2, w.iconic)["icon"],
            "/icons/epg/9/120x91.png"
        );

        // The account's own offset, saved through settings/save.
        for bad in ["25", "-25", "x", "1.5"] {
            s.fails(
                400,
                "settings/save",
                &[k, ("preferred_timeshift_offset", bad)],
            )
            .await;
        }
        s.tv_ok("settings/save", &[k, ("preferred_timeshift_offset", "2")])
            .await;
        let stored = exec(
            &s.db.store,
            "SELECT timeshift_offset FROM account WHERE abonement = '1001'",
            &[],
        )
        .await;
        assert_eq!(stored, 2);
        let list = s.tv_ok("channel/list", &[k]).await;
        let main = channel_item(&list, w.main);
        assert_eq!(main["program_id"], w.morning, "two hours behind");
        assert_eq!(main["program_begin_time"], w.now - H);
        assert_eq!(main["next_program_id"], w.current);
        assert_eq!(main["timeshift_offset"], 2);
        let main_id = w.main.to_string();
        let r = s
            .tv_ok("channel/programs", &[k, ("cid", &main_id), ("limit", "1")])
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.morning]);
        let r = s
            .tv_ok(
                "channel/programs",
                &[
                    k,
                    ("cid", &main_id),
                    ("limit", "1"),
                    ("timeshift_offset", "0"),
                ],
            )
            .await;
        assert_eq!(ids(&r, "programs"), vec![w.current], "the parameter wins");
        s.tv_ok("settings/save", &[k, ("preferred_timeshift_offset", "0")])
            .await;
        let list = s.tv_ok("channel/list", &[k]).await;
        assert_eq!(channel_item(&list, w.main)["program_id"], w.current);
        s.stop().await;
    }
}

#[tokio::test]
async fn cached_channel_list_moves_on_when_a_programme_ends() {
    for s in Server::both().await {
        let st = &s.db.store;
        let customer = s.customer("Ann").await;
        let tariff = s.basic_tariff().await;
        let source = exec(
            st,
            "INSERT INTO epg_source (name, url, created_at, updated_at) \
             VALUES ('Guide', 'http://guide.invalid/tv.xml', 0, 0) RETURNING id",
            &[],
        )
        .await;
        let epg = epg_channel(st, source, "fast", "").await;
        let epg_s = epg.to_string();
        let fast = s
            .content_ok(
                "channel/create",
                &[
                    ("name", "Fast"),
                    ("tariff_id", &tariff),
                    ("epg_channel_id", &epg_s),
                ],
            )
            .await["id"]
            .as_i64()
            .unwrap();
        s.account(&customer, &tariff, "1001", "pw", &[]).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());
        // The programme on ends in 3 seconds.
        let now = efir_store::now();
        let ending = programme(st, epg, now - 60, now + 3, "Ending").await;
        let coming = programme(st, epg, now + 3, now + 600, "Coming").await;
        let after = programme(st, epg, now + 600, now + 1200, "After").await;

        let list = s.tv_ok("channel/list", &[k]).await;
        // (Unless this machine is so slow that it has already ended.)
        if efir_store::now() < now + 3 {
            let item = channel_item(&list, fast);
            assert_eq!(item["program_id"], ending, "{}", s.label());
            assert_eq!(item["next_program_id"], coming);
            // Served from the cache while it holds.
            let again = s.tv_ok("channel/list", &[k]).await;
            if efir_store::now() < now + 3 {
                assert_eq!(channel_item(&again, fast)["program_id"], ending);
            }
        }
        let wait = (now + 3 - efir_store::now()).max(0) as u64 + 1;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let list = s.tv_ok("channel/list", &[k]).await;
        let item = channel_item(&list, fast);
        assert_eq!(item["program_id"], coming, "{}: {item}", s.label());
        assert_eq!(item["program_name"], "Coming");
        assert_eq!(item["next_program_id"], after);
        s.stop().await;
    }
}

#[tokio::test]
async fn catch_up_by_programme() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let k = ("authkey", key.as_str());

        let pid = w.morning.to_string();
        let r = s
            .tv_ok("program/url", &[k, ("pid", &pid), ("redirect", "0")])
            .await;
        assert_eq!(r["stream_service_id"], w.pvr);
        let start = w.now - 3 * H;
        assert_eq!(
            r["uri"],
            format!("http://pvr.edge.invalid/main/archive-{start}-7200.m3u8"),
            "the programme's start and length"
        );
        let r = s
            .tv_ok(
                "program/url",
                &[k, ("pid", &pid), ("duration", "600"), ("redirect", "0")],
            )
            .await;
        assert!(r["uri"]
            .as_str()
            .unwrap()
            .ends_with(&format!("archive-{start}-600.m3u8")));
        let hd = w.main_hd.to_string();
        let r = s
            .tv_ok(
                "program/url",
                &[k, ("pid", &pid), ("cid", &hd), ("redirect", "0")],
            )
            .await;
        assert_eq!(
            r["uri"],
            format!(
                "http://pvr.edge.invalid/{}/archive-{start}-7200.m3u8",
                w.main_hd
            ),
            "the channel asked for"
        );

        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let client_id = s.client.id.to_string();
        let res = no_follow
            .get(format!("{}/tvmiddleware/api/program/url/", s.base))
            .query(&[("client_id", client_id.as_str()), k, ("pid", &pid)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.contains(&format!("archive-{start}-7200")),
            "{location}"
        );

        // Still by time as before.
        let t = (w.now - 600).to_string();
        let main = w.main.to_string();
        let r = s
            .tv_ok(
                "program/url",
                &[k, ("cid", &main), ("time", &t), ("redirect", "0")],
            )
            .await;
        assert!(r["uri"]
            .as_str()
            .unwrap()
            .contains(&format!("archive-{t}-")));

        let closed = w.closed_show.to_string();
        s.fails(11, "program/url", &[k, ("pid", &closed), ("redirect", "0")])
            .await;
        s.fails(
            404,
            "program/url",
            &[k, ("pid", "999999999"), ("redirect", "0")],
        )
        .await;
        let none = w.no_guide.to_string();
        s.fails(
            404,
            "program/url",
            &[k, ("pid", &pid), ("cid", &none), ("redirect", "0")],
        )
        .await;
        let later = w.later.to_string();
        s.fails(400, "program/url", &[k, ("pid", &later), ("redirect", "0")])
            .await;
        s.fails(400, "program/url", &[k, ("pid", "x"), ("redirect", "0")])
            .await;
        s.fails(403, "program/url", &[("pid", &pid), ("redirect", "0")])
            .await;
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_parameters_never_fail_inside() {
    for s in Server::both().await {
        let w = world(&s).await;
        let key = s.authkey().await;
        let main = w.main.to_string();
        let garbage = [
            "",
            "x",
            "-1",
            "0",
            "1e9",
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
            "%",
            "'; DROP TABLE x; --",
            "1,2",
            "\u{0}",
        ];
        let methods = [
            "channel/programs",
            "program/list",
            "channel/list/programs",
            "program/detail",
            "program/list/search",
            "premiere/list",
            "program/url",
            "channel/list",
        ];
        let names = [
            "cid",
            "pid",
            "limit",
            "timeshift_offset",
            "time_from",
            "time_to",
            "date",
            "pid_from",
            "channel_ids",
            "programs_from_ts",
            "programs_to_ts",
            "search",
            "query",
            "days",
            "duration",
            "time",
        ];
        for method in methods {
            for name in names {
                for value in garbage {
                    let mut params = vec![
                        ("authkey", key.as_str()),
                        ("cid", main.as_str()),
                        ("redirect", "0"),
                        ("search", "show"),
                        ("channel_ids", main.as_str()),
                    ];
                    params.retain(|(n, _)| *n != name);
                    params.push((name, value));
                    let r = s.tv(method, &params).await;
                    let code = r["error"].as_i64().unwrap();
                    assert_ne!(code, 500, "{method} {name}={value:?}: {r}");
                }
            }
        }
        s.stop().await;
    }
}
