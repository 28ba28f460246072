//! Statistics on both databases with the clock given to each call: online
//! counting and the daily maximum across a simulated day, exact and
//! idempotent daily statistics, incremental subscriber dynamics and the
//! clean-ups.

mod stats_support;

use efir_backoffice::stats::{self, cleanup, daily, dynamic, online};
use efir_store::testing::TestDb;
use efir_store::{with_db, Store};
use stats_support::*;

async fn set_window(store: &Store, client: i64, secs: &str) {
    let mut tx = store.begin(actor()).await.unwrap();
    store
        .set_client_setting(&mut tx, client, "stats.online_window_secs", Some(secs))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn online_now_and_the_daily_maximum_across_a_day() {
    for db in TestDb::both().await {
        let s = &db.store;
        let a = client(s, "Alpha").await;
        let b = client(s, "Beta").await;
        let ca = customer(s, a, D - 10 * 86_400).await;
        let cb = customer(s, b, D - 10 * 86_400).await;
        let acc = account(s, a, ca, D - 10 * 86_400, None).await;
        let accb = account(s, b, cb, D - 10 * 86_400, None).await;
        let far = D + 30 * 86_400;
        let (s1, _) = session(s, acc, D + 8 * H, far).await;
        let (s2, _) = session(s, acc, D + 8 * H + 120, far).await;
        let (s3, _) = session(s, acc, D + 12 * H, far).await;
        // Seen recently but expired: never online.
        let (_expired, _) = session(s, acc, D + 8 * H + 60, D + 8 * H + 90).await;
        session(s, accb, D + 8 * H + 60, far).await;

        let at = D + 8 * H + 180;
        assert_eq!(
            online::online_now(s, a, at, 300).await.unwrap(),
            2,
            "{}",
            db.label
        );
        let run = online::cache_max_online(s, actor(), at, None)
            .await
            .unwrap();
        assert_eq!(run.len(), 2);
        let alpha = run.iter().find(|x| x.client_id == a).unwrap();
        let beta = run.iter().find(|x| x.client_id == b).unwrap();
        assert_eq!((alpha.online, alpha.max_online, alpha.max_at), (2, 2, at));
        assert_eq!(
            (beta.online, beta.max_online),
            (1, 1),
            "other operator counted apart"
        );

        // Midday: only s3 is recent; the maximum stays 2 from 08:03.
        let noon = D + 12 * H + 60;
        let run = online::cache_max_online(s, actor(), noon, Some(&[a]))
            .await
            .unwrap();
        assert_eq!(
            (run[0].online, run[0].max_online, run[0].max_at),
            (1, 2, at)
        );

        // Evening peak: all three seen within the window → new maximum.
        seen(s, s1, D + 20 * H).await;
        seen(s, s2, D + 20 * H + 60).await;
        seen(s, s3, D + 20 * H + 120).await;
        let peak = D + 20 * H + 180;
        let run = online::cache_max_online(s, actor(), peak, Some(&[a]))
            .await
            .unwrap();
        assert_eq!(
            (run[0].online, run[0].max_online, run[0].max_at),
            (3, 3, peak)
        );
        // An equal sample later keeps the first time the maximum was reached.
        let run = online::cache_max_online(s, actor(), peak + 60, Some(&[a]))
            .await
            .unwrap();
        assert_eq!(
            (run[0].online, run[0].max_online, run[0].max_at),
            (3, 3, peak)
        );

        // A shorter window (setting) counts fewer sessions.
        seen(s, s3, peak + 30).await;
        assert_eq!(online::online_now(s, a, peak + 61, 300).await.unwrap(), 3);
        set_window(s, a, "60").await;
        let run = online::cache_max_online(s, actor(), peak + 61, Some(&[a]))
            .await
            .unwrap();
        assert_eq!(run[0].online, 1, "{}: only s3 within 60 s", db.label);

        // Late evening: nobody; the next UTC day starts a new maximum.
        let late = D + 23 * H + 59 * 60;
        let run = online::cache_max_online(s, actor(), late, Some(&[a]))
            .await
            .unwrap();
        assert_eq!((run[0].online, run[0].max_online), (0, 3));
        let next = D + 86_400 + 240;
        let run = online::cache_max_online(s, actor(), next, Some(&[a]))
            .await
            .unwrap();
        assert_eq!(
            (run[0].day, run[0].max_online, run[0].max_at),
            (D + 86_400, 0, next)
        );

        let series = online::daily_max(s, Some(a), D, D + 86_400).await.unwrap();
        let got: Vec<_> = series
            .iter()
            .map(|m| (m.day, m.max_online, m.max_at, m.samples))
            .collect();
        assert_eq!(
            got,
            vec![(D, 3, peak, 6), (D + 86_400, 0, next, 1)],
            "{}",
            db.label
        );
        assert_eq!(count(s, "stats_online_sample").await, 8);

        // Unknown operators are refused before anything is written.
        let e = online::cache_max_online(s, actor(), next, Some(&[9999]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("9999"), "{e}");
        assert_eq!(count(s, "stats_online_sample").await, 8);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn daily_statistics_are_exact_and_recomputing_replaces_the_row() {
    for db in TestDb::both().await {
        let s = &db.store;
        let a = client(s, "Alpha").await;
        let b = client(s, "Beta").await;
        let old1 = customer(s, a, D - 5 * 86_400).await;
        let old2 = customer(s, a, D - 86_400).await;
        let new1 = customer(s, a, D + 9 * H).await;
        // After the day: not counted in it.
        customer(s, a, D + 86_400 + 5).await;
        let other = customer(s, b, D + 10 * H).await;
        let a1 = account(s, a, old1, D - 5 * 86_400, None).await;
        account(s, a, old2, D - 86_400, Some(D + 15 * H)).await;
        account(s, a, new1, D + 9 * H, Some(D + 40 * 86_400)).await;
        account(s, a, old1, D - 86_400, Some(D - 3600)).await;
        account(s, b, other, D + 10 * H, None).await;

        transaction(s, a, old1, "12.50", D + 10 * H).await;
        transaction(s, a, new1, "7.25", D + 23 * H + 3599).await;
        transaction(s, a, old1, "100", D - 1).await;
        transaction(s, a, old1, "-10.00", D).await;
        transaction(s, a, old2, "-0.0001", D + 13 * H).await;
        transaction(s, a, old1, "-5", D + 86_400).await;
        transaction(s, b, other, "99.99", D + 11 * H).await;

        viewing(s, a, old1, a1, "channel", 1, D + 20 * H, 600).await;
        viewing(s, a, old1, a1, "vod", 2, D + 21 * H, 1200).await;
        viewing(s, a, old1, a1, "vod", 2, D - 60, 999).await;

        let (sess, _) = session(s, a1, D + 19 * H, D + 10 * 86_400).await;
        let _ = sess;
        online::cache_max_online(s, actor(), D + 19 * H + 30, Some(&[a]))
            .await
            .unwrap();

        let now = D + 86_400 + 10 * 60;
        let rows = daily::collect(s, actor(), D, now, None).await.unwrap();
        let r = rows.iter().find(|r| r.client_id == a).unwrap();
        assert_eq!(r.day, D);
        assert_eq!((r.customers, r.new_customers), (3, 1), "{}", db.label);
        assert_eq!((r.accounts, r.new_accounts), (4, 1));
        // a1 and the new account; one deactivated during the day, one before.
        assert_eq!(r.active_accounts, 2);
        assert_eq!(r.deactivations, 1);
        assert_eq!(
            r.payments,
            "19.75".parse::<efir_core::money::Money>().unwrap().units()
        );
        assert_eq!(r.payments_count, 2);
        assert_eq!(
            r.charges,
            "10.0001"
                .parse::<efir_core::money::Money>()
                .unwrap()
                .units()
        );
        assert_eq!(r.charges_count, 2);
        assert_eq!((r.viewing_events, r.viewing_seconds), (2, 1800));
        assert_eq!((r.max_online, r.max_online_at), (1, Some(D + 19 * H + 30)));
        let j = r.to_json();
        assert_eq!(j["payments"], "19.75");
        assert_eq!(j["charges"], "10.0001");
        assert_eq!(j["date"], "2026-03-10");
        let rb = rows.iter().find(|r| r.client_id == b).unwrap();
        assert_eq!((rb.customers, rb.payments_count), (1, 1));

        // Recomputing replaces the row; a late payment is picked up.
        let again = daily::collect(s, actor(), D, now + 60, Some(&[a]))
            .await
            .unwrap();
        let mut same = again[0].clone();
        same.computed_at = r.computed_at;
        assert_eq!(&same, r, "{}: recomputation changes nothing", db.label);
        transaction(s, a, old2, "0.25", D + 22 * H).await;
        daily::collect(s, actor(), D, now + 120, Some(&[a]))
            .await
            .unwrap();
        let stored = daily::stored(s, Some(a), D, D).await.unwrap();
        assert_eq!(stored.len(), 1, "one row per operator and day");
        assert_eq!(stored[0].payments, 200_000);
        assert_eq!(count(s, "stats_daily").await, 2);

        // A future day is refused.
        let e = daily::collect(s, actor(), D + 2 * 86_400, now, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("future"), "{e}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn dynamics_are_incremental() {
    for db in TestDb::both().await {
        let s = &db.store;
        let a = client(s, "Alpha").await;
        let feb = D - 20 * 86_400;
        let c1 = customer(s, a, feb).await;
        account(s, a, c1, feb, None).await;
        let c2 = customer(s, a, D + 2 * H + 30).await;
        account(s, a, c2, D + 2 * H + 30, Some(D + 5 * H)).await;

        let now = D + 10 * H + 1800;
        let first = dynamic::cache_customers_dynamic(s, actor(), now, None, &|_, _| {})
            .await
            .unwrap();
        let computed = |runs: &[dynamic::DynamicRun], g: dynamic::Granularity| {
            runs.iter()
                .find(|r| r.granularity == g)
                .map(|r| (r.computed, r.first_run))
                .unwrap()
        };
        // From 2026-02-01: 28 + 9 days and 10 hours of March 10.
        assert_eq!(
            computed(&first, dynamic::Granularity::Hour),
            ((28 + 9) * 24 + 10, true)
        );
        assert_eq!(computed(&first, dynamic::Granularity::Day), (28 + 9, true));
        assert_eq!(computed(&first, dynamic::Granularity::Month), (1, true));
        let hours_before = dynamic::stored(s, Some(a), dynamic::Granularity::Hour, 0, now)
            .await
            .unwrap();
        let h2 = hours_before.iter().find(|b| b.bucket == D + 2 * H).unwrap();
        assert_eq!(
            (
                h2.customers,
                h2.new_customers,
                h2.accounts,
                h2.active_accounts
            ),
            (2, 1, 2, 2)
        );
        let h5 = hours_before.iter().find(|b| b.bucket == D + 5 * H).unwrap();
        assert_eq!((h5.deactivated_accounts, h5.active_accounts), (1, 1));

        // Two hours later: only the two new hours are computed.
        let c3 = customer(s, a, D + 11 * H + 15 * 60).await;
        let _ = c3;
        let later = D + 12 * H + 300;
        let second = dynamic::cache_customers_dynamic(s, actor(), later, Some(&[a]), &|_, _| {})
            .await
            .unwrap();
        assert_eq!(
            computed(&second, dynamic::Granularity::Hour),
            (2, false),
            "{}",
            db.label
        );
        assert_eq!(computed(&second, dynamic::Granularity::Day), (0, false));
        assert_eq!(computed(&second, dynamic::Granularity::Month), (0, false));
        let hours_after = dynamic::stored(s, Some(a), dynamic::Granularity::Hour, 0, later)
            .await
            .unwrap();
        assert_eq!(hours_after.len(), hours_before.len() + 2);
        assert_eq!(
            &hours_after[..hours_before.len()],
            &hours_before[..],
            "earlier buckets unchanged"
        );
        let h11 = hours_after.iter().find(|b| b.bucket == D + 11 * H).unwrap();
        assert_eq!((h11.customers, h11.new_customers), (3, 1));

        // Again at the same time: nothing new.
        let third = dynamic::cache_customers_dynamic(s, actor(), later, None, &|_, _| {})
            .await
            .unwrap();
        assert!(third.iter().all(|r| r.computed == 0));
        assert!(matches!(
            dynamic::cache_customers_dynamic(s, actor(), later, Some(&[a, 424242]), &|_, _| {})
                .await,
            Err(stats::StatsError::UnknownClient(424242))
        ));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn cleanups_remove_only_old_rows() {
    for db in TestDb::both().await {
        let s = &db.store;
        let a = client(s, "Alpha").await;
        let b = client(s, "Beta").await;
        let ca = customer(s, a, D - 100 * 86_400).await;
        let cb = customer(s, b, D - 100 * 86_400).await;
        let acc = account(s, a, ca, D - 100 * 86_400, None).await;
        let accb = account(s, b, cb, D - 100 * 86_400, None).await;
        let now = D;
        // Old (40 days) and recent (2 days) rows everywhere.
        for age in [40, 2] {
            let t = now - age * 86_400;
            customer_log(s, a, ca, t).await;
            viewing(s, a, ca, acc, "channel", 1, t, 60).await;
            viewing(s, b, cb, accb, "channel", 1, t, 60).await;
            online::cache_max_online(s, actor(), t, None).await.unwrap();
            daily::collect(s, actor(), t, now, None).await.unwrap();
        }
        dynamic::cache_customers_dynamic(s, actor(), now, Some(&[a]), &|_, _| {})
            .await
            .unwrap();
        let dyn_total = count(s, "stats_dynamic").await;

        // Days below 1 are refused with nothing deleted.
        for bad in [0, -5] {
            assert!(cleanup::clear_customer_log(s, actor(), bad, now)
                .await
                .is_err());
            assert!(cleanup::delete_old_reports(s, actor(), bad, now)
                .await
                .is_err());
            assert!(cleanup::reports_remove_old_data(s, actor(), bad, now)
                .await
                .is_err());
            assert!(
                cleanup::remove_viewed_content_history(s, actor(), a, bad, now)
                    .await
                    .is_err()
            );
        }
        assert_eq!(count(s, "customer_log").await, 2);

        let r = cleanup::clear_customer_log(s, actor(), 30, now)
            .await
            .unwrap();
        assert_eq!(r.total(), 1, "{}", db.label);
        assert_eq!(count(s, "customer_log").await, 1);

        let r = cleanup::remove_viewed_content_history(s, actor(), a, 30, now)
            .await
            .unwrap();
        assert_eq!(r.total(), 1);
        assert_eq!(
            count(s, "viewing_event").await,
            3,
            "the other operator's history stays"
        );
        assert!(
            cleanup::remove_viewed_content_history(s, actor(), 9999, 30, now)
                .await
                .is_err()
        );

        let r = cleanup::delete_old_reports(s, actor(), 30, now)
            .await
            .unwrap();
        assert_eq!(r.total(), 2, "the old day of both operators");
        assert_eq!(count(s, "stats_daily").await, 2);

        let r = cleanup::reports_remove_old_data(s, actor(), 30, now)
            .await
            .unwrap();
        let by_table = |t: &str| {
            r.deleted
                .iter()
                .find(|(n, _)| n == t)
                .map(|(_, n)| *n)
                .unwrap()
        };
        assert_eq!(by_table("stats_online_sample"), 2);
        assert_eq!(by_table("stats_online_daily"), 2);
        // Buckets from 2026-02-01 on; 30 days before D is 2026-02-08:
        // 7 days of hours, 7 days and the month of February.
        assert_eq!(by_table("stats_dynamic"), 7 * 24 + 7 + 1);
        assert_eq!(count(s, "stats_online_sample").await, 2);
        assert_eq!(
            count(s, "stats_dynamic").await,
            dyn_total - (7 * 24 + 7 + 1)
        );

        // Each run left an audit event with its counts.
        let audited: i64 = with_db!(s.pool(), p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'delete' AND entity IN \
             ('clear-customer-log', 'remove-viewed-content-history', 'delete-old-reports', \
              'reports-remove-old-data')")
            .fetch_one(p)
            .await)
        .unwrap();
        assert_eq!(audited, 4);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn viewing_totals_and_top_content() {
    for db in TestDb::both().await {
        let s = &db.store;
        let a = client(s, "Alpha").await;
        let b = client(s, "Beta").await;
        let ca = customer(s, a, D).await;
        let cb = customer(s, b, D).await;
        let a1 = account(s, a, ca, D, None).await;
        let a2 = account(s, a, ca, D, None).await;
        let b1 = account(s, b, cb, D, None).await;
        viewing(s, a, ca, a1, "channel", 7, D + H, 600).await;
        viewing(s, a, ca, a2, "channel", 7, D + 2 * H, 300).await;
        viewing(s, a, ca, a1, "channel", 8, D + 3 * H, 1200).await;
        viewing(s, a, ca, a1, "vod", 7, D + 4 * H, 5000).await;
        viewing(s, a, ca, a1, "vod", 9, D - 86_400, 9000).await;
        viewing(s, b, cb, b1, "channel", 7, D + H, 99_999).await;

        let (totals, top) = stats::viewing::viewing(s, Some(a), D, D + DAY_END, None, 10)
            .await
            .unwrap();
        let t: Vec<_> = totals
            .iter()
            .map(|v| (v.content_type.as_str(), v.events, v.seconds, v.accounts))
            .collect();
        assert_eq!(
            t,
            vec![("channel", 3, 2100, 2), ("vod", 1, 5000, 1)],
            "{}",
            db.label
        );
        let top: Vec<_> = top
            .iter()
            .map(|v| (v.content_type.as_str(), v.content_id, v.seconds))
            .collect();
        assert_eq!(
            top,
            vec![("vod", 7, 5000), ("channel", 8, 1200), ("channel", 7, 900)]
        );
        let (_, only) = stats::viewing::viewing(s, Some(a), D, D + DAY_END, Some("channel"), 1)
            .await
            .unwrap();
        assert_eq!((only.len(), only[0].content_id), (1, 8));
        let (all, _) = stats::viewing::viewing(s, None, D, D + DAY_END, Some("channel"), 10)
            .await
            .unwrap();
        assert_eq!(all[0].seconds, 2100 + 99_999, "all operators");
        db.cleanup().await;
    }
}

const DAY_END: i64 = 86_399;
