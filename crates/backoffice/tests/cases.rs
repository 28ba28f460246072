//! Cases and tasks on both databases with a frozen clock (explicit `now`):
//! reminders fire once at the right time, overdue cases escalate to the
//! owner and then to the manager once each, the SLA pause moves the due
//! time by exactly the waiting time, transitions and roles are enforced,
//! attachments are limited and type-checked, search is plain text, and
//! another operator's cases are invisible.

mod cases_fixture;

use cases_fixture::{fixture, scalar, DAY, HOUR, T0};
use efir_backoffice::cases::{CaseError, CaseFilter, Cases, NewCase, NewTask, TaskUpdate};
use efir_core::config::{CaseTransitionConfig, CaseTypeConfig, CasesConfig};
use efir_store::testing::TestDb;
use efir_store::Actor;

fn ticket(title: &str) -> NewCase {
    NewCase {
        case_type: "support_ticket".into(),
        title: title.into(),
        ..Default::default()
    }
}

fn sched() -> Actor {
    Actor::Scheduler("test".into())
}

async fn count(cases: &Cases, sql: &str) -> i64 {
    scalar(cases.store(), sql, &[]).await
}

#[tokio::test]
async fn reminder_fires_once_at_the_right_time() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        let c = fx
            .cases
            .create(&fx.support_a, fx.a, &ticket("No picture"), T0)
            .await
            .unwrap();
        // Deadline in 5 hours, default offset 60 min: reminder at T0 + 4 h.
        let task = fx
            .cases
            .add_task(
                &fx.support_a,
                c.id,
                &NewTask {
                    title: "Call back".into(),
                    assignee_id: Some(fx.support_a.user_id),
                    deadline: Some(T0 + 5 * HOUR),
                    remind_at: None,
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(task.remind_at, Some(T0 + 4 * HOUR), "{}", db.label);
        // An explicit reminder time wins.
        let t2 = fx
            .cases
            .add_task(
                &fx.admin_a,
                c.id,
                &NewTask {
                    title: "Check line".into(),
                    assignee_id: Some(fx.admin_a.user_id),
                    deadline: Some(T0 + 10 * HOUR),
                    remind_at: Some(T0 + 2 * HOUR),
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(t2.remind_at, Some(T0 + 2 * HOUR));

        assert_eq!(
            fx.cases
                .send_reminders(T0 + 2 * HOUR - 1, sched())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 2 * HOUR, sched())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 2 * HOUR + 30, sched())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 4 * HOUR - 1, sched())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 4 * HOUR, sched())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 6 * HOUR, sched())
                .await
                .unwrap(),
            0
        );

        let mine = fx
            .cases
            .notifications(&fx.support_a, false, 50, 0)
            .await
            .unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].kind, "reminder");
        assert_eq!(mine[0].task_id, Some(task.id));
        assert_eq!(mine[0].at, T0 + 4 * HOUR);
        assert!(mine[0].text.contains("Call back"));
        let admins = fx
            .cases
            .notifications(&fx.admin_a, false, 50, 0)
            .await
            .unwrap();
        assert_eq!(admins.len(), 1);
        assert_eq!(admins[0].task_id, Some(t2.id));

        // Moving the deadline re-arms the reminder, exactly once again.
        fx.cases
            .update_task(
                &fx.support_a,
                task.id,
                &TaskUpdate {
                    deadline: Some(T0 + 9 * HOUR),
                    ..Default::default()
                },
                T0 + 6 * HOUR,
            )
            .await
            .unwrap();
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 8 * HOUR - 1, sched())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 8 * HOUR, sched())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 8 * HOUR, sched())
                .await
                .unwrap(),
            0
        );
        // A done task is not reminded.
        let t3 = fx
            .cases
            .add_task(
                &fx.support_a,
                c.id,
                &NewTask {
                    title: "x".into(),
                    remind_at: Some(T0 + 9 * HOUR),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        fx.cases
            .update_task(
                &fx.support_a,
                t3.id,
                &TaskUpdate {
                    done: Some(true),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(
            fx.cases
                .send_reminders(T0 + 10 * HOUR, sched())
                .await
                .unwrap(),
            0
        );

        // Marking read: own notifications only.
        let n = fx
            .cases
            .notifications(&fx.support_a, true, 50, 0)
            .await
            .unwrap();
        assert_eq!(n.len(), 2);
        assert!(matches!(
            fx.cases.mark_read(&fx.admin_a, n[0].id, T0).await,
            Err(CaseError::NotFound(_))
        ));
        fx.cases
            .mark_read(&fx.support_a, n[0].id, T0)
            .await
            .unwrap();
        assert_eq!(
            fx.cases
                .notifications(&fx.support_a, true, 50, 0)
                .await
                .unwrap()
                .len(),
            1
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn overdue_case_escalates_to_owner_then_manager_once_each() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        // Support ticket: SLA 24 h; owner support_a, whose manager is boss_a.
        let c = fx
            .cases
            .create(&fx.support_a, fx.a, &ticket("Slow channel"), T0)
            .await
            .unwrap();
        assert_eq!(c.due_at, Some(T0 + 24 * HOUR));
        assert_eq!(c.owner_id, Some(fx.support_a.user_id));

        let r = fx.cases.escalate(T0 + 24 * HOUR, sched()).await.unwrap();
        assert_eq!(
            (r.owners_notified, r.managers_notified),
            (0, 0),
            "not overdue at the due second"
        );
        let r = fx
            .cases
            .escalate(T0 + 24 * HOUR + 1, sched())
            .await
            .unwrap();
        assert_eq!((r.owners_notified, r.managers_notified), (1, 0));
        let r = fx.cases.escalate(T0 + 2 * DAY, sched()).await.unwrap();
        assert_eq!(
            (r.owners_notified, r.managers_notified),
            (0, 0),
            "owner told once"
        );
        // Manager after 3 days past the due time.
        let r = fx
            .cases
            .escalate(T0 + DAY + 3 * DAY, sched())
            .await
            .unwrap();
        assert_eq!((r.owners_notified, r.managers_notified), (0, 0));
        let r = fx
            .cases
            .escalate(T0 + DAY + 3 * DAY + 1, sched())
            .await
            .unwrap();
        assert_eq!((r.owners_notified, r.managers_notified), (0, 1));
        let r = fx.cases.escalate(T0 + 30 * DAY, sched()).await.unwrap();
        assert_eq!(
            (r.owners_notified, r.managers_notified),
            (0, 0),
            "manager told once"
        );

        let owner = fx
            .cases
            .notifications(&fx.support_a, false, 50, 0)
            .await
            .unwrap();
        assert_eq!(owner.len(), 1);
        assert_eq!(owner[0].kind, "overdue");
        let boss = efir_backoffice::cases::Who {
            user_id: fx.manager_a,
            username: "boss_a".into(),
            role: efir_backoffice::cases::Role::OperatorAdmin,
            client_id: Some(fx.a),
        };
        let m = fx.cases.notifications(&boss, false, 50, 0).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].kind, "escalation");
        assert_eq!(m[0].case_id, Some(c.id));

        // Closed and paused cases do not escalate; the overdue filter agrees.
        let paused = fx
            .cases
            .create(&fx.support_a, fx.a, &ticket("Waiting"), T0)
            .await
            .unwrap();
        fx.cases
            .transition(&fx.support_a, paused.id, "in_progress", "", T0)
            .await
            .unwrap();
        fx.cases
            .transition(&fx.support_a, paused.id, "waiting_customer", "", T0 + HOUR)
            .await
            .unwrap();
        let r = fx.cases.escalate(T0 + 40 * DAY, sched()).await.unwrap();
        assert_eq!((r.owners_notified, r.managers_notified), (0, 0));
        let f = CaseFilter {
            overdue: Some(true),
            ..Default::default()
        };
        let over = fx
            .cases
            .list(&fx.admin_a, None, &f, 50, 0, T0 + 40 * DAY)
            .await
            .unwrap();
        assert_eq!(over.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id]);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sla_pause_moves_the_due_time_by_the_waiting_time() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        let c = fx
            .cases
            .create(&fx.support_a, fx.a, &ticket("Remote broken"), T0)
            .await
            .unwrap();
        let due0 = c.due_at.unwrap();
        fx.cases
            .transition(&fx.support_a, c.id, "in_progress", "", T0 + 100)
            .await
            .unwrap();
        let w = fx
            .cases
            .transition(
                &fx.support_a,
                c.id,
                "waiting_customer",
                "asked for photo",
                T0 + 1000,
            )
            .await
            .unwrap();
        assert_eq!(w.paused_since, Some(T0 + 1000));
        assert_eq!(w.due_at, Some(due0), "due time frozen while paused");
        let back = fx
            .cases
            .transition(
                &fx.support_a,
                c.id,
                "in_progress",
                "photo came",
                T0 + 1000 + 7 * HOUR + 13,
            )
            .await
            .unwrap();
        assert_eq!(back.due_at, Some(due0 + 7 * HOUR + 13));
        assert_eq!(back.paused_total, 7 * HOUR + 13);
        assert_eq!(back.paused_since, None);
        // A second pause adds up.
        fx.cases
            .transition(&fx.support_a, c.id, "waiting_customer", "", T0 + 10 * HOUR)
            .await
            .unwrap();
        let back = fx
            .cases
            .transition(&fx.support_a, c.id, "in_progress", "", T0 + 12 * HOUR)
            .await
            .unwrap();
        assert_eq!(back.due_at, Some(due0 + 9 * HOUR + 13));
        assert_eq!(back.paused_total, 9 * HOUR + 13);
        let log = fx.cases.history(&fx.admin_a, c.id).await.unwrap();
        assert_eq!(log.len(), 6);
        assert_eq!(log[0].from_state, None);
        assert_eq!(log[2].comment, "asked for photo");
        assert!(log[2].actor.contains("support_a"));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn transitions_and_role_guards() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        let c = fx
            .cases
            .create(&fx.support_a, fx.a, &ticket("t"), T0)
            .await
            .unwrap();
        // Not allowed from `new` → conflict, nothing changes.
        let e = fx
            .cases
            .transition(&fx.support_a, c.id, "closed", "", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, CaseError::Conflict(_)), "{e:?}");
        assert!(matches!(
            fx.cases
                .transition(&fx.support_a, c.id, "nonsense", "", T0)
                .await,
            Err(CaseError::Invalid { .. })
        ));
        assert_eq!(fx.cases.get(&fx.admin_a, c.id).await.unwrap().state, "new");

        // Payment dispute: approve/reject admin-only.
        let d = fx
            .cases
            .create(
                &fx.support_a,
                fx.a,
                &NewCase {
                    case_type: "payment_dispute".into(),
                    title: "double charge".into(),
                    customer_id: Some(fx.customer_a),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        fx.cases
            .transition(&fx.support_a, d.id, "evidence", "", T0)
            .await
            .unwrap();
        let e = fx
            .cases
            .transition(&fx.support_a, d.id, "approved", "", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, CaseError::Forbidden(_)), "{e:?}");
        assert_eq!(
            fx.cases.get(&fx.admin_a, d.id).await.unwrap().state,
            "evidence"
        );
        fx.cases
            .transition(&fx.admin_a, d.id, "approved", "refund ok", T0)
            .await
            .unwrap();
        let closed = fx
            .cases
            .transition(&fx.support_a, d.id, "closed", "", T0 + 5)
            .await
            .unwrap();
        assert!(closed.closed);
        assert_eq!(closed.closed_at, Some(T0 + 5));

        // Monitoring is read-only everywhere.
        assert!(matches!(
            fx.cases.create(&fx.monitor_a, fx.a, &ticket("m"), T0).await,
            Err(CaseError::Forbidden(_))
        ));
        assert!(matches!(
            fx.cases
                .transition(&fx.monitor_a, c.id, "in_progress", "", T0)
                .await,
            Err(CaseError::Forbidden(_))
        ));
        assert!(matches!(
            fx.cases.add_comment(&fx.monitor_a, c.id, "hi", T0).await,
            Err(CaseError::Forbidden(_))
        ));
        assert!(fx.cases.get(&fx.monitor_a, c.id).await.is_ok());
        // Support may not soft-delete; an admin may, and then it is gone.
        assert!(matches!(
            fx.cases.delete(&fx.support_a, c.id, T0).await,
            Err(CaseError::Forbidden(_))
        ));
        fx.cases.delete(&fx.admin_a, c.id, T0).await.unwrap();
        assert!(matches!(
            fx.cases.get(&fx.admin_a, c.id).await,
            Err(CaseError::NotFound(_))
        ));
        assert_eq!(
            count(
                &fx.cases,
                "SELECT COUNT(*) FROM case_item WHERE deleted = TRUE"
            )
            .await,
            1
        );

        // The swap type needs the box serial.
        let e = fx
            .cases
            .create(
                &fx.support_a,
                fx.a,
                &NewCase {
                    case_type: "box_swap".into(),
                    title: "swap".into(),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CaseError::Invalid { ref field, .. } if field == "box_serial"));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn links_must_belong_to_the_operator_and_other_operators_see_nothing() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        let before = count(&fx.cases, "SELECT COUNT(*) FROM case_item").await;
        for (field, new) in [
            (
                "customer_id",
                NewCase {
                    customer_id: Some(fx.customer_b),
                    ..ticket("x")
                },
            ),
            (
                "account_id",
                NewCase {
                    account_id: Some(fx.account_b),
                    ..ticket("x")
                },
            ),
            (
                "customer_id",
                NewCase {
                    customer_id: Some(999_999),
                    ..ticket("x")
                },
            ),
            (
                "owner_id",
                NewCase {
                    owner_id: Some(fx.admin_b.user_id),
                    ..ticket("x")
                },
            ),
            (
                "case_type",
                NewCase {
                    case_type: "nope".into(),
                    ..ticket("x")
                },
            ),
            ("title", ticket("  ")),
        ] {
            let e = fx
                .cases
                .create(&fx.admin_a, fx.a, &new, T0)
                .await
                .unwrap_err();
            assert!(
                matches!(e, CaseError::Invalid { field: ref f, .. } if f == field),
                "{field}: {e:?}"
            );
        }
        assert_eq!(
            count(&fx.cases, "SELECT COUNT(*) FROM case_item").await,
            before
        );

        let c = fx
            .cases
            .create(
                &fx.admin_a,
                fx.a,
                &NewCase {
                    customer_id: Some(fx.customer_a),
                    account_id: Some(fx.account_a),
                    ..ticket("mine")
                },
                T0,
            )
            .await
            .unwrap();
        // Operator B sees nothing of A.
        assert!(matches!(
            fx.cases.get(&fx.admin_b, c.id).await,
            Err(CaseError::NotFound(_))
        ));
        assert!(matches!(
            fx.cases
                .transition(&fx.admin_b, c.id, "in_progress", "", T0)
                .await,
            Err(CaseError::NotFound(_))
        ));
        assert!(matches!(
            fx.cases.add_comment(&fx.admin_b, c.id, "x", T0).await,
            Err(CaseError::NotFound(_))
        ));
        assert!(matches!(
            fx.cases.create(&fx.admin_b, fx.a, &ticket("x"), T0).await,
            Err(CaseError::NotFound(_))
        ));
        assert!(fx
            .cases
            .list(&fx.admin_b, None, &CaseFilter::default(), 50, 0, T0)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            fx.cases
                .list(&fx.admin_b, Some(fx.a), &CaseFilter::default(), 50, 0, T0)
                .await,
            Err(CaseError::NotFound(_))
        ));
        // The superuser sees all.
        assert_eq!(fx.cases.get(&fx.superuser, c.id).await.unwrap().id, c.id);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn search_is_plain_text() {
    for db in TestDb::both().await {
        let fx = fixture(&db, &CasesConfig::default()).await;
        fx.cases
            .create(&fx.admin_a, fx.a, &ticket("No sound on HBO"), T0)
            .await
            .unwrap();
        fx.cases
            .create(
                &fx.admin_a,
                fx.a,
                &NewCase {
                    description: "100% packet loss".into(),
                    ..ticket("Freeze")
                },
                T0,
            )
            .await
            .unwrap();
        let search = |q: &str| CaseFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        let hits = fx
            .cases
            .list(&fx.admin_a, None, &search("hbo"), 50, 0, T0)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            fx.cases
                .list(&fx.admin_a, None, &search("100%"), 50, 0, T0)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            fx.cases
                .list(&fx.admin_a, None, &search("%"), 50, 0, T0)
                .await
                .unwrap()
                .len(),
            1
        );
        for evil in [
            "' OR '1'='1",
            "'; DROP TABLE case_item; --",
            "\" OR 1=1 --",
            "_",
            "\\",
        ] {
            let hits = fx
                .cases
                .list(&fx.admin_a, None, &search(evil), 50, 0, T0)
                .await
                .unwrap();
            assert!(hits.is_empty(), "{evil}");
        }
        assert_eq!(count(&fx.cases, "SELECT COUNT(*) FROM case_item").await, 2);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn attachments_are_limited_and_type_checked() {
    for db in TestDb::both().await {
        let config = CasesConfig {
            max_attachment_bytes: 1024,
            ..Default::default()
        };
        let fx = fixture(&db, &config).await;
        let c = fx
            .cases
            .create(&fx.admin_a, fx.a, &ticket("with files"), T0)
            .await
            .unwrap();
        let dir = fx.dir.path().join("attachments");
        let files = || -> usize { walk(&dir) };
        // Over the limit.
        let big = vec![b'a'; 1025];
        assert!(matches!(
            fx.cases
                .add_attachment(&fx.admin_a, c.id, "a.txt", None, &big, T0)
                .await,
            Err(CaseError::TooLarge(_))
        ));
        // Forged types.
        let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00";
        assert!(matches!(
            fx.cases
                .add_attachment(
                    &fx.admin_a,
                    c.id,
                    "invoice.pdf",
                    Some("application/pdf"),
                    exe,
                    T0
                )
                .await,
            Err(CaseError::Unsupported(_))
        ));
        assert!(matches!(
            fx.cases
                .add_attachment(
                    &fx.admin_a,
                    c.id,
                    "shot.png",
                    Some("image/png"),
                    b"just text",
                    T0
                )
                .await,
            Err(CaseError::Unsupported(_))
        ));
        assert!(matches!(
            fx.cases
                .add_attachment(
                    &fx.admin_a,
                    c.id,
                    "x.bin",
                    Some("image/png"),
                    b"%PDF-1.4\n",
                    T0
                )
                .await,
            Err(CaseError::Unsupported(_))
        ));
        assert!(matches!(
            fx.cases
                .add_attachment(&fx.admin_a, c.id, "run.exe", None, b"hello", T0)
                .await,
            Err(CaseError::Unsupported(_))
        ));
        assert!(matches!(
            fx.cases
                .add_attachment(&fx.monitor_a, c.id, "a.txt", None, b"hello", T0)
                .await,
            Err(CaseError::Forbidden(_))
        ));
        assert_eq!(files(), 0, "nothing written");
        assert_eq!(
            count(&fx.cases, "SELECT COUNT(*) FROM case_attachment").await,
            0
        );

        // A good PDF with a path-traversal name lands inside the case dir.
        let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
        let att = fx
            .cases
            .add_attachment(
                &fx.admin_a,
                c.id,
                "../../../../etc/passwd.pdf",
                Some("application/pdf"),
                pdf,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(att.file_name, "passwd.pdf");
        assert_eq!(att.content_type, "application/pdf");
        assert_eq!(files(), 1);
        let stored = fx
            .dir
            .path()
            .join("attachments")
            .join(fx.a.to_string())
            .join(c.id.to_string())
            .join(&att.stored_name);
        assert!(stored.is_file());
        assert!(!fx.dir.path().join("etc").exists());
        let (meta, bytes) = fx
            .cases
            .attachment(&fx.support_a, c.id, att.id)
            .await
            .unwrap();
        assert_eq!(bytes, pdf);
        assert_eq!(meta.size, pdf.len() as i64);
        // Another operator cannot fetch it.
        assert!(matches!(
            fx.cases.attachment(&fx.admin_b, c.id, att.id).await,
            Err(CaseError::NotFound(_))
        ));
        assert_eq!(
            fx.cases
                .attachments(&fx.monitor_a, c.id)
                .await
                .unwrap()
                .len(),
            1
        );
        db.cleanup().await;
    }
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn configured_case_type_runs_on_the_same_engine() {
    let db = TestDb::sqlite().await;
    let config = CasesConfig {
        types: vec![CaseTypeConfig {
            name: "tariff_change".into(),
            title: "Tariff change".into(),
            states: vec!["asked".into(), "approved".into(), "done".into()],
            initial: "asked".into(),
            closed: vec!["done".into()],
            waiting: vec![],
            sla_hours: Some(2),
            remind_before_minutes: Some(15),
            transitions: vec![
                CaseTransitionConfig {
                    from: "asked".into(),
                    to: "approved".into(),
                    roles: vec!["admin".into()],
                },
                CaseTransitionConfig {
                    from: "approved".into(),
                    to: "done".into(),
                    roles: vec![],
                },
            ],
        }],
        ..Default::default()
    };
    assert!(config.problems().is_empty());
    let fx = fixture(&db, &config).await;
    let new = NewCase {
        case_type: "tariff_change".into(),
        title: "to premium".into(),
        ..Default::default()
    };
    let c = fx
        .cases
        .create(&fx.support_a, fx.a, &new, T0)
        .await
        .unwrap();
    assert_eq!((c.state.as_str(), c.due_at), ("asked", Some(T0 + 2 * HOUR)));
    assert!(matches!(
        fx.cases
            .transition(&fx.support_a, c.id, "approved", "", T0)
            .await,
        Err(CaseError::Forbidden(_))
    ));
    assert!(matches!(
        fx.cases.transition(&fx.admin_a, c.id, "done", "", T0).await,
        Err(CaseError::Conflict(_))
    ));
    fx.cases
        .transition(&fx.admin_a, c.id, "approved", "", T0)
        .await
        .unwrap();
    let t = fx
        .cases
        .add_task(
            &fx.support_a,
            c.id,
            &NewTask {
                title: "switch".into(),
                deadline: Some(T0 + HOUR),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(t.remind_at, Some(T0 + HOUR - 15 * 60));
    db.cleanup().await;
}

#[test]
fn bad_configured_types_name_the_key() {
    let bad = CasesConfig {
        types: vec![CaseTypeConfig {
            name: "support_ticket".into(),
            title: "".into(),
            states: vec!["a".into(), "a".into()],
            initial: "zz".into(),
            closed: vec!["q".into()],
            waiting: vec![],
            sla_hours: Some(0),
            remind_before_minutes: None,
            transitions: vec![CaseTransitionConfig {
                from: "a".into(),
                to: "b".into(),
                roles: vec!["boss".into()],
            }],
        }],
        ..Default::default()
    };
    let keys: Vec<String> = bad.problems().into_iter().map(|(k, _)| k).collect();
    for k in [
        "cases.type[0].name",
        "cases.type[0].title",
        "cases.type[0].states",
        "cases.type[0].initial",
        "cases.type[0].closed",
        "cases.type[0].sla_hours",
        "cases.type[0].transition[0].to",
        "cases.type[0].transition[0].roles",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing in {keys:?}");
    }
}
