//! The admin panel over real HTTP on a throw-away database: operators,
//! staff users, and a [`Browser`] that keeps its session cookie and posts
//! forms with their CSRF token, as a browser does.
#![allow(dead_code)]

use efir_backoffice::admin::{AdminState, StaffRole};
use efir_backoffice::AdminOptions;
use efir_store::clients::{Client, NewClient};
use efir_store::testing::TestDb;
use efir_store::users::NewUser;
use efir_store::{Actor, Store};
use reqwest::StatusCode;

/// The password of every staff user made here.
pub const PASSWORD: &str = "correct-horse-battery";

/// A running panel (with the middleware's APIs beside it, as in `efir
/// serve`).
pub struct PanelServer {
    /// The database.
    pub db: TestDb,
    /// The store.
    pub store: Store,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory.
    pub data_dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

/// A page: status, body, headers.
#[derive(Debug)]
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Body text.
    pub body: String,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl PanelServer {
    /// Starts the panel, the admin API and the middleware on `db`.
    pub async fn start(db: TestDb) -> PanelServer {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let data_dir = tempfile::tempdir().unwrap();
        let admin = AdminState::new(
            db.store.clone(),
            AdminOptions {
                data_dir: data_dir.path().to_path_buf(),
                session_hours: 12,
                trusted_proxies: Vec::new(),
            },
        );
        let mw = efir_middleware::Middleware::new(
            db.store.clone(),
            efir_middleware::Options {
                trusted_proxies: Vec::new(),
                caches: Default::default(),
            },
        );
        let panel = efir_panel::Panel::new(admin.clone(), mw.clone(), Default::default());
        let app = axum::Router::new()
            .merge(efir_middleware::routes_of(mw))
            .merge(efir_backoffice::admin::routes(admin))
            .merge(efir_panel::routes(panel));
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
        PanelServer {
            store: db.store.clone(),
            db,
            base: format!("http://{addr}"),
            data_dir,
            task,
        }
    }

    /// Creates an operator `<prefix> TV`.
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

    /// Creates a staff user with `role` of operator `client_id`.
    pub async fn create_staff(&self, username: &str, role: StaffRole, client_id: Option<i64>) {
        let mut tx = self
            .store
            .begin(Actor::System("test".into()))
            .await
            .unwrap();
        self.store
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
    }

    /// A browser without a session.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            session: None,
        }
    }

    /// Creates a staff user and answers a browser logged in as it.
    pub async fn login_as(
        &self,
        username: &str,
        role: StaffRole,
        client_id: Option<i64>,
    ) -> Browser {
        self.create_staff(username, role, client_id).await;
        let mut b = self.browser();
        let page = b.login(username, PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "login of {username}: {}",
            page.body
        );
        b
    }

    /// Stops the server and drops the database.
    pub async fn stop(self) {
        self.task.abort();
        self.db.cleanup().await;
    }
}

/// A browser: keeps the session cookie, sends forms with the CSRF token.
pub struct Browser {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The client (redirects are not followed).
    pub http: reqwest::Client,
    /// The session token, once logged in.
    pub session: Option<String>,
}

fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k.trim() == name).then(|| val.to_string())
        })
}

/// The first `name="_csrf" value="…"` of a page.
pub fn hidden_value(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_string())
}

impl Browser {
    async fn finish(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap();
        Page {
            status,
            body,
            location,
            headers,
        }
    }

    fn cookie_header(&self) -> String {
        match &self.session {
            Some(s) => format!("efir_session={s}"),
            None => String::new(),
        }
    }

    /// Logs in through the login form (with its double-submit token).
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}/admin/login", self.base))
            .send()
            .await
            .unwrap();
        let nonce_cookie = set_cookie(resp.headers(), "efir_login").unwrap();
        let body = resp.text().await.unwrap();
        let nonce = hidden_value(&body, "_csrf").unwrap();
        let resp = self
            .http
            .post(format!("{}/admin/login", self.base))
            .header("cookie", format!("efir_login={nonce_cookie}"))
            .form(&[
                ("_csrf", nonce.as_str()),
                ("username", username),
                ("password", password),
                ("next", "/admin/"),
            ])
            .send()
            .await
            .unwrap();
        if let Some(s) = set_cookie(resp.headers(), "efir_session").filter(|s| !s.is_empty()) {
            self.session = Some(s);
        }
        Self::finish(resp).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        Self::finish(resp).await
    }

    /// The CSRF token of this session (as the pages carry it).
    pub fn csrf(&self) -> String {
        efir_panel::session::csrf_of(self.session.as_deref().unwrap_or_default())
    }

    /// `POST path` with a form and this session's CSRF token.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut fields: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields).await
    }

    /// `POST path` with exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        Self::finish(resp).await
    }
}

/// Runs `f` on a panel over SQLite, then over PostgreSQL.
pub async fn each_db<F, Fut>(f: F)
where
    F: Fn(PanelServer) -> Fut,
    Fut: std::future::Future<Output = PanelServer>,
{
    for db in TestDb::both().await {
        let server = PanelServer::start(db).await;
        f(server).await.stop().await;
    }
}

/// The id in a redirect `Location` under `prefix` (`/admin/customers/`).
pub fn id_from(location: &Option<String>, prefix: &str) -> i64 {
    let loc = location.as_deref().unwrap_or_default();
    let rest = loc
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{loc} is not under {prefix}"));
    rest.split(['?', '/']).next().unwrap().parse().unwrap()
}
