//! The admin API over real HTTP on a throw-away database, with helpers to
//! create operators and staff users and log them in.
#![allow(dead_code)]

use efir_backoffice::admin::StaffRole;
use efir_backoffice::AdminOptions;
use efir_store::clients::{Client, NewClient};
use efir_store::testing::TestDb;
use efir_store::users::NewUser;
use efir_store::{Actor, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The password of every staff user made by [`AdminServer::staff`].
pub const PASSWORD: &str = "correct-horse-battery";

/// A running admin API.
pub struct AdminServer {
    /// The database.
    pub db: TestDb,
    /// The store (same as `db.store`).
    pub store: Store,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The data directory.
    pub data_dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
    users: std::sync::atomic::AtomicUsize,
}

impl AdminServer {
    /// Starts the back office's routes on `db`.
    pub async fn start(db: TestDb) -> AdminServer {
        let data_dir = tempfile::tempdir().unwrap();
        let app = efir_backoffice::routes(
            db.store.clone(),
            AdminOptions {
                data_dir: data_dir.path().to_path_buf(),
                session_hours: 12,
                trusted_proxies: Vec::new(),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        AdminServer {
            store: db.store.clone(),
            db,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            data_dir,
            task,
            users: Default::default(),
        }
    }

    /// Creates an operator.
    pub async fn operator(&self, prefix: &str) -> Client {
        let mut tx = self
            .store
            .begin(Actor::System("test".into()))
            .await
            .unwrap();
        let c = self
            .store
            .create_client(
                &mut tx,
                &NewClient {
                    name: format!("{prefix} TV"),
                    api_key: format!("{prefix}-device-key"),
                    domain_prefix: prefix.into(),
                    email: format!("ops@{prefix}.tv"),
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c
    }

    /// Creates a staff user with `role` (of operator `client_id`) and
    /// answers its login token.
    pub async fn staff(&self, role: StaffRole, client_id: Option<i64>) -> String {
        let n = self.users.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let username = format!("staff{n}");
        self.create_staff(&username, role, client_id).await;
        self.login(&username, PASSWORD).await
    }

    /// Creates a staff user named `username` with password [`PASSWORD`].
    pub async fn create_staff(
        &self,
        username: &str,
        role: StaffRole,
        client_id: Option<i64>,
    ) -> i64 {
        let mut tx = self
            .store
            .begin(Actor::System("test".into()))
            .await
            .unwrap();
        let user = self
            .store
            .create_user(
                &mut tx,
                &NewUser {
                    username: username.into(),
                    password: PASSWORD.into(),
                    email: format!("{username}@example.net"),
                    is_admin: role == StaffRole::OperatorAdmin,
                    is_superuser: role == StaffRole::Superuser,
                    monitoring_user: role == StaffRole::Monitoring,
                    client_id,
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        user.id
    }

    /// Logs in; panics when the login fails.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                None,
                "/admin/api/login",
                Some(json!({ "username": username, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Sends a request (JSON body when given); answers status and JSON.
    pub async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// `GET` with a token.
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, Some(token), path, None)
            .await
    }

    /// `GET` answering the raw text (CSV).
    pub async fn get_text(&self, token: &str, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// `POST` JSON with a token.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, Some(token), path, Some(body))
            .await
    }

    /// `PATCH` JSON with a token.
    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, Some(token), path, Some(body))
            .await
    }

    /// Stops the server and drops the database.
    pub async fn stop(self) {
        self.task.abort();
        self.db.cleanup().await;
    }
}
