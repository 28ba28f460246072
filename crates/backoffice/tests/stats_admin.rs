//! The statistics endpoints of the admin API over real HTTP on both
//! databases: the right series in JSON and CSV, operator scoping (another
//! operator's data is a 404), monitoring users may read, and bad periods
//! and filters are 422 field errors.
//!
//! Waiting for the admin API on main: after `git merge main`, move this
//! file to `tests/stats_admin.rs` (it passed against the admin module as
//! it stood at 14:30 UTC).

mod common;
mod stats_support;

use common::AdminServer;
use efir_backoffice::admin::StaffRole;
use efir_backoffice::stats::{daily, dynamic, online};
use efir_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::Value;
use stats_support::*;

async fn get(s: &AdminServer, token: &str, path: &str) -> (StatusCode, String) {
    let res = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn get_json(s: &AdminServer, token: &str, path: &str) -> Value {
    let (status, body) = get(s, token, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn stats_series_in_json_and_csv_scoped_to_the_operator() {
    for db in TestDb::both().await {
        let label = db.label;
        let s = AdminServer::start(db).await;
        let st = &s.store;
        let a = client(st, "Alpha").await;
        let b = client(st, "Beta").await;
        let ca = customer(st, a, D + H).await;
        let cb = customer(st, b, D + H).await;
        let acc = account(st, a, ca, D + H, None).await;
        let accb = account(st, b, cb, D + H, None).await;
        transaction(st, a, ca, "12.50", D + 2 * H).await;
        transaction(st, b, cb, "99.00", D + 2 * H).await;
        viewing(st, a, ca, acc, "channel", 5, D + 3 * H, 600).await;
        viewing(st, b, cb, accb, "channel", 5, D + 3 * H, 6000).await;
        session(st, acc, D + 8 * H, D + 10 * 86_400).await;
        online::cache_max_online(st, actor(), D + 8 * H + 60, None)
            .await
            .unwrap();
        for day in [D, D + 86_400] {
            daily::collect(st, actor(), day, D + 2 * 86_400, None)
                .await
                .unwrap();
        }
        dynamic::cache_customers_dynamic(st, actor(), D + 2 * 86_400, None, &|_, _| {})
            .await
            .unwrap();

        let admin_a = s.staff(StaffRole::OperatorAdmin, Some(a)).await;
        let monitor_a = s.staff(StaffRole::Monitoring, Some(a)).await;
        let support_b = s.staff(StaffRole::Support, Some(b)).await;
        let root = s.staff(StaffRole::Superuser, None).await;
        let period = "from=2026-03-10&to=2026-03-11";

        // Daily: A's two days, exact money, A only.
        let v = get_json(&s, &admin_a, &format!("/admin/api/stats/daily?{period}")).await;
        assert_eq!(v["count"], 2, "{label}: {v}");
        assert!(v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["client_id"] == a));
        assert_eq!(v["items"][0]["date"], "2026-03-10");
        assert_eq!(v["items"][0]["payments"], "12.50");
        assert_eq!(v["items"][0]["new_customers"], 1);
        assert_eq!(v["items"][0]["max_online"], 1);
        assert_eq!(v["items"][0]["viewing_seconds"], 600);
        assert_eq!(v["items"][1]["new_customers"], 0);
        // The same as CSV.
        let (status, csv) = get(
            &s,
            &admin_a,
            &format!("/admin/api/stats/daily?{period}&format=csv"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(
            lines[0].starts_with("client_id,date,day,customers,accounts"),
            "{csv}"
        );
        assert!(
            lines[1].starts_with(&format!("{a},2026-03-10,{D},1,1")),
            "{csv}"
        );
        assert!(lines[1].contains(",12.50,1,"), "{csv}");
        assert!(!csv.contains("99.00"), "another operator's money");

        // Another operator's data: 404; the superuser picks any.
        let (status, _) = get(
            &s,
            &admin_a,
            &format!("/admin/api/stats/daily?{period}&client_id={b}"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let v = get_json(&s, &support_b, &format!("/admin/api/stats/daily?{period}")).await;
        assert!(v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["client_id"] == b));
        assert_eq!(v["items"][0]["payments"], "99.00");
        let v = get_json(&s, &root, &format!("/admin/api/stats/daily?{period}")).await;
        assert_eq!(v["count"], 4);
        let v = get_json(
            &s,
            &root,
            &format!("/admin/api/stats/daily?{period}&client_id={b}"),
        )
        .await;
        assert_eq!(v["count"], 2);

        // Online: now per operator and the daily maxima.
        let v = get_json(&s, &monitor_a, &format!("/admin/api/stats/online?{period}")).await;
        assert_eq!(v["now"].as_array().unwrap().len(), 1);
        assert_eq!(v["now"][0]["client_id"], a);
        assert_eq!(v["now"][0]["window_secs"], 300);
        assert_eq!(v["count"], 1);
        assert_eq!(v["items"][0]["max_online"], 1);
        assert_eq!(v["items"][0]["max_at"], D + 8 * H + 60);
        let (_, csv) = get(
            &s,
            &monitor_a,
            &format!("/admin/api/stats/online?{period}&format=csv"),
        )
        .await;
        assert_eq!(
            csv.lines().nth(1).unwrap(),
            format!(
                "{a},2026-03-10,{D},1,{},2026-03-10T08:01:00Z,1",
                D + 8 * H + 60
            )
        );

        // Dynamics: one bucket per day of the period.
        let v = get_json(
            &s,
            &monitor_a,
            "/admin/api/stats/dynamic?granularity=day&from=2026-03-08&to=2026-03-11",
        )
        .await;
        let got: Vec<(i64, i64)> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["bucket"].as_i64().unwrap(),
                    i["customers"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (D - 2 * 86_400, 0),
                (D - 86_400, 0),
                (D, 1),
                (D + 86_400, 1)
            ],
            "{label}"
        );
        let (_, csv) = get(&s, &monitor_a, "/admin/api/stats/dynamic?granularity=hour&from=2026-03-10&to=2026-03-10T02:00:00Z&format=csv").await;
        assert_eq!(csv.lines().count(), 1 + 3, "{csv}");

        // Viewing: totals and top content of the operator.
        let v = get_json(
            &s,
            &monitor_a,
            &format!("/admin/api/stats/viewing?{period}&content_type=channel"),
        )
        .await;
        assert_eq!(v["totals"][0]["seconds"], 600);
        assert_eq!(v["items"][0]["content_id"], 5);
        let (_, csv) = get(
            &s,
            &monitor_a,
            &format!("/admin/api/stats/viewing?{period}&format=csv"),
        )
        .await;
        assert_eq!(csv.lines().nth(1).unwrap(), "channel,5,1,600,1");

        // Bad input: 422 naming the field.
        for (query, field) in [
            ("daily?from=2026-03-11&to=2026-03-10", "from"),
            ("daily?from=yesterday", "from"),
            ("daily?from=1%27%20OR%20%271%27=%271", "from"),
            ("daily?from=2020-01-01&to=2026-01-01", "to"),
            ("dynamic?granularity=week", "granularity"),
            (
                "dynamic?granularity=hour&from=2026-01-01&to=2026-03-01",
                "to",
            ),
            ("viewing?content_type=book", "content_type"),
            ("viewing?limit=0", "limit"),
            ("online?client_id=abc", "client_id"),
            ("daily?format=xml", "format"),
        ] {
            let (status, body) = get(&s, &admin_a, &format!("/admin/api/stats/{query}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(v["error"]["fields"][field].is_string(), "{query}: {body}");
        }
        // Without a login: 401.
        let res = s
            .http
            .get(format!("{}/admin/api/stats/daily", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        s.db.cleanup().await;
    }
}
