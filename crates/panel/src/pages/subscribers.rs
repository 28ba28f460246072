//! Customers, accounts, devices and sessions (with "log out all
//! devices"), tariffs and what they open.
//!
//! Lists read the tables directly (search, filters, pagination); every
//! change goes through the Billing API's code on behalf of the staff user
//! ([`super::api`]), so the panel validates and audits exactly as the
//! billing integration does. Support staff may change customers and
//! accounts; tariffs are changed by operator admins and superusers;
//! monitoring users only read.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use efir_core::money::Money;
use efir_middleware::Api;
use efir_store::audit::Arg;
use efir_store::{like_contains, with_db};
use minijinja::context;

use super::{
    api, form_client, item, operator_options, operator_scope, Chart, Form, NavItem, Query,
};
use crate::render::{
    columns, page_of, param, param_nonempty, see_other, Action, Cell, DetailView, Filter,
    FormField, FormView, ListView, PageError, PageResult, PAGE_SIZE,
};
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[
    ("sub_new_customer", "New customer", "Новый абонент"),
    ("sub_edit_customer", "Edit customer", "Изменить абонента"),
    ("sub_new_account", "New account", "Новый аккаунт"),
    ("sub_new_tariff", "New tariff", "Новый тариф"),
    ("sub_edit_tariff", "Edit tariff", "Изменить тариф"),
    ("sub_abonement", "Abonement", "Абонемент"),
    ("sub_ext_id", "External id", "Внешний id"),
    ("sub_mobile", "Mobile phone", "Мобильный телефон"),
    ("sub_contract", "Contract", "Договор"),
    ("sub_period", "Period (months)", "Период (месяцев)"),
    (
        "sub_priority",
        "Basic priority (0 = additional)",
        "Приоритет базового (0 = дополнительный)",
    ),
    (
        "sub_channels_opened",
        "Channels it opens",
        "Открываемые каналы",
    ),
    (
        "sub_account_channels",
        "Channels of this account",
        "Каналы аккаунта",
    ),
    ("sub_customers_of_tariff", "Customers", "Абоненты"),
    ("sub_activate", "Activate", "Активировать"),
    ("sub_deactivate", "Deactivate", "Деактивировать"),
    (
        "sub_logged_out",
        "Every device of the account is logged out.",
        "Все устройства аккаунта отключены.",
    ),
    ("sub_uid", "Device id", "Id устройства"),
    ("sub_model", "Model", "Модель"),
    ("sub_last_seen", "Last seen", "Последняя активность"),
    ("sub_ip", "Address", "Адрес"),
    ("sub_comment", "Comment", "Комментарий"),
    (
        "sub_password_hint",
        "Empty: a random one is made",
        "Пусто: будет создан случайный",
    ),
    (
        "sub_account_created",
        "The account is created.",
        "Аккаунт создан.",
    ),
    ("sub_kind", "Kind", "Вид"),
    ("sub_basic", "Basic", "Базовый"),
    ("sub_additional", "Additional", "Дополнительный"),
];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
        .route("/admin/customers", get(customers))
        .route(
            "/admin/customers/new",
            get(customer_new).post(customer_create),
        )
        .route("/admin/customers/{id}", get(customer))
        .route(
            "/admin/customers/{id}/edit",
            get(customer_edit).post(customer_update),
        )
        .route("/admin/customers/{id}/tariffs", post(tariff_assign))
        .route(
            "/admin/customers/{id}/tariffs/{tariff}/remove",
            post(tariff_remove),
        )
        .route("/admin/customers/{id}/accounts", post(account_create))
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{id}", get(account))
        .route("/admin/accounts/{id}/logout-all", post(account_logout_all))
        .route("/admin/accounts/{id}/activate", post(account_activate))
        .route("/admin/accounts/{id}/deactivate", post(account_deactivate))
        .route("/admin/tariffs", get(tariffs))
        .route("/admin/tariffs/new", get(tariff_new).post(tariff_create))
        .route("/admin/tariffs/{id}", get(tariff))
        .route(
            "/admin/tariffs/{id}/edit",
            get(tariff_edit).post(tariff_update),
        )
}

/// Menu entries for `user`.
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    vec![
        item("customers", "/admin/customers"),
        item("accounts", "/admin/accounts"),
        item("tariffs", "/admin/tariffs"),
    ]
}

/// Charts these pages add to the dashboard (none: the dashboard draws the
/// subscriber charts itself).
pub async fn charts(_panel: &Panel, _user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    Ok(Vec::new())
}

fn money(units: i64) -> String {
    Money(units).to_string()
}

fn time(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn yes_no(b: bool) -> Cell {
    if b {
        Cell::text("✔").class("ok")
    } else {
        Cell::text("✘").class("bad")
    }
}

/// `(condition, args)` of an optional operator scope on alias `t`,
/// numbering from `$1`.
fn scope_sql(scope: Option<i64>, args: &mut Vec<Arg>) -> String {
    match scope {
        Some(c) => {
            args.push(Arg::I64(c));
            format!("t.client_id = ${}", args.len())
        }
        None => "1 = 1".into(),
    }
}

/// A customer in the list, with the number of matches of the search.
type CustomerRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
);

async fn customers(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (op_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let mut args = Vec::new();
    let mut cond = scope_sql(scope, &mut args);
    let search = param_nonempty(&q, "q").map(str::to_string);
    if let Some(s) = &search {
        if let Ok(id) = s.parse::<i64>() {
            args.push(Arg::I64(id));
            let n = args.len();
            args.push(Arg::Text(s.clone()));
            let m = n + 1;
            cond.push_str(&format!(
                " AND (t.id = ${n} OR t.ext_id = ${m} OR t.contract_number = ${m} \
                 OR t.mobile_phone_number = ${m} \
                 OR t.id IN (SELECT a.customer_id FROM account a WHERE a.abonement = ${m}))"
            ));
        } else {
            args.push(Arg::Text(like_contains(s)));
            let n = args.len();
            cond.push_str(&format!(
                " AND (LOWER(t.lastname) LIKE ${n} ESCAPE '\\' OR LOWER(t.firstname) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(t.email) LIKE ${n} ESCAPE '\\' OR LOWER(COALESCE(t.ext_id, '')) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(t.contract_number) LIKE ${n} ESCAPE '\\' \
                 OR t.id IN (SELECT a.customer_id FROM account a WHERE LOWER(a.abonement) LIKE ${n} ESCAPE '\\'))"
            ));
        }
    }
    // A text search reads every customer of the operator: one scan gives
    // the page and the number of matches (`COUNT(*) OVER ()`). Without
    // one, the count is cheaper on its own (an index count) than a window
    // over every row.
    let windowed = search.is_some();
    let counted = if windowed {
        "COUNT(*) OVER ()"
    } else {
        "CAST(0 AS BIGINT)"
    };
    let select = |offset: i64| {
        format!(
            "SELECT t.id, t.client_id, t.lastname, t.firstname, t.email, t.mobile_phone_number, \
             t.balance, t.ext_id, {counted} FROM customer t WHERE {cond} \
             ORDER BY t.id DESC LIMIT {PAGE_SIZE} OFFSET {offset}"
        )
    };
    let requested = page_of(&q);
    let sql = select((requested - 1) * PAGE_SIZE);
    let mut rows: Vec<CustomerRow> = with_db!(panel.store.pool(), p =>
        efir_store::bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)?;
    let total = match rows.first() {
        Some(r) if windowed => r.8,
        None if windowed && requested == 1 => 0,
        _ => {
            let count_sql = format!("SELECT COUNT(*) FROM customer t WHERE {cond}");
            with_db!(panel.store.pool(), p =>
                efir_store::bind_args!(sqlx::query_scalar(&count_sql), args).fetch_one(p).await)?
        }
    };
    let mut view = ListView {
        title: "customers".into(),
        columns: columns(&[
            "ID",
            "last_name",
            "first_name",
            "email",
            "sub_mobile",
            "balance",
            "sub_ext_id",
        ]),
        create: Some("/admin/customers/new".into()),
        ..Default::default()
    };
    view.filters.push(Filter {
        name: "q".into(),
        label: "search".into(),
        value: search.clone().unwrap_or_default(),
        options: Vec::new(),
    });
    view.filters.extend(op_filter);
    view.paginate(total, requested, &q);
    if rows.is_empty() && total > 0 {
        // Past the end: the last page.
        let sql = select((view.page - 1) * PAGE_SIZE);
        rows = with_db!(panel.store.pool(), p =>
            efir_store::bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)?;
    }
    view.rows = rows
        .into_iter()
        .map(|(id, _, last, first, email, mobile, balance, ext, _)| {
            let href = format!("/admin/customers/{id}");
            vec![
                Cell::link(id, &href),
                Cell::link(
                    if last.is_empty() {
                        "—".to_string()
                    } else {
                        last
                    },
                    &href,
                ),
                Cell::text(first),
                Cell::text(email),
                Cell::text(mobile),
                Cell::text(money(balance)).class("num"),
                Cell::text(ext.unwrap_or_default()),
            ]
        })
        .collect();
    panel.views.page("list.html", &user, context! { view })
}

const CUSTOMER_FIELDS: [(&str, &str, &str); 6] = [
    ("firstname", "first_name", "text"),
    ("lastname", "last_name", "text"),
    ("email", "email", "email"),
    ("mobile_phone_number", "sub_mobile", "text"),
    ("ext_id", "sub_ext_id", "text"),
    ("comment", "sub_comment", "textarea"),
];

async fn customer_form(
    panel: &Panel,
    user: &User,
    title: &str,
    action: String,
    back: String,
    new: bool,
) -> PageResult<FormView> {
    let mut fields = Vec::new();
    if new && user.staff.is_superuser() {
        fields.push(
            FormField::new("client_id", "operator", "select")
                .required()
                .options(operator_options(panel, user).await?),
        );
    }
    for (name, label, kind) in CUSTOMER_FIELDS {
        fields.push(FormField::new(name, label, kind));
    }
    Ok(FormView {
        title: title.into(),
        action,
        fields,
        back,
        ..Default::default()
    })
}

async fn customer_new(State(panel): State<Panel>, user: User) -> PageResult {
    user.require_write()?;
    let form = customer_form(
        &panel,
        &user,
        "sub_new_customer",
        "/admin/customers/new".into(),
        "/admin/customers".into(),
        true,
    )
    .await?;
    panel
        .views
        .page("form.html", &user, context! { view => form })
}

/// Re-renders `form` with the submitted values and the errors (422).
fn form_error(
    panel: &Panel,
    user: &User,
    mut form: FormView,
    params: &[(String, String)],
    err: PageError,
) -> PageResult {
    if err.status != StatusCode::UNPROCESSABLE_ENTITY {
        return Err(err);
    }
    form.refill(params, &err);
    let mut res = panel
        .views
        .page("form.html", user, context! { view => form })?;
    *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(res)
}

fn id_in(v: &serde_json::Value, keys: &[&str]) -> Option<i64> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(serde_json::Value::as_i64))
}

async fn customer_create(State(panel): State<Panel>, user: User, Form(f): Form) -> PageResult {
    user.require_write()?;
    let form = customer_form(
        &panel,
        &user,
        "sub_new_customer",
        "/admin/customers/new".into(),
        "/admin/customers".into(),
        true,
    )
    .await?;
    let client_id = match form_client(&user, &f) {
        Ok(c) => c,
        Err(e) => return form_error(&panel, &user, form, &f, e),
    };
    let params: Vec<(String, String)> = f
        .iter()
        .filter(|(k, _)| k != "client_id")
        .cloned()
        .collect();
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "customer/create",
        params,
    )
    .await
    {
        Ok(v) => match id_in(&v, &["customer_id", "id"]) {
            Some(id) => Ok(see_other(&format!("/admin/customers/{id}"))),
            None => Err(PageError::internal("customer/create answered no id")),
        },
        Err(e) => form_error(&panel, &user, form, &f, e),
    }
}

/// The operator of customer `id` (404 when it does not exist or the user
/// may not see it).
async fn customer_client(panel: &Panel, user: &User, id: i64) -> PageResult<i64> {
    let c: Option<i64> = with_db!(panel.store.pool(), p =>
        sqlx::query_scalar("SELECT client_id FROM customer WHERE id = $1").bind(id).fetch_optional(p).await)?;
    let c = c.ok_or_else(PageError::not_found)?;
    user.check(c)?;
    Ok(c)
}

type CustomerFull = (
    i64,
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

async fn customer(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let client_id = customer_client(&panel, &user, id).await?;
    let sql = "SELECT id, client_id, ext_id, firstname, lastname, email, mobile_phone_number, \
               contract_number, balance, currency, comment FROM customer WHERE id = $1";
    let c: CustomerFull =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(id).fetch_one(p).await)?;
    let operator = panel.store.client(client_id).await?;
    let name = format!("{} {}", c.4, c.3).trim().to_string();
    let mut view = DetailView {
        title: if name.is_empty() {
            format!("#{id}")
        } else {
            name
        },
        kind: "customer".into(),
        facts: vec![
            ("ID".into(), Cell::text(c.0)),
            ("operator".into(), Cell::text(&operator.name)),
            (
                "sub_ext_id".into(),
                Cell::text(c.2.clone().unwrap_or_default()),
            ),
            ("email".into(), Cell::text(&c.5)),
            ("sub_mobile".into(), Cell::text(&c.6)),
            ("sub_contract".into(), Cell::text(&c.7)),
            (
                "balance".into(),
                Cell::text(format!("{} {}", money(c.8), c.9)),
            ),
            ("sub_comment".into(), Cell::text(&c.10)),
        ],
        links: vec![Cell::link(
            crate::i18n::t(user.lang, "edit"),
            format!("/admin/customers/{id}/edit"),
        )],
        notice: param(&q, "notice")
            .filter(|n| n.starts_with("sub_"))
            .map(str::to_string),
        ..Default::default()
    };
    // Accounts.
    let rows: Vec<(i64, String, bool, String, Option<i64>)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, abonement, active, status_reason, deactivation_date FROM account WHERE customer_id = $1 ORDER BY id")
        .bind(id).fetch_all(p).await)?;
    let mut accounts = ListView {
        title: "accounts".into(),
        columns: columns(&["ID", "sub_abonement", "active", "status", "expires"]),
        ..Default::default()
    };
    accounts.rows = rows
        .into_iter()
        .map(|(aid, ab, active, reason, until)| {
            vec![
                Cell::link(aid, format!("/admin/accounts/{aid}")),
                Cell::link(ab, format!("/admin/accounts/{aid}")),
                yes_no(active),
                Cell::text(reason),
                Cell::text(time(until)),
            ]
        })
        .collect();
    view.sections.push(accounts);
    // Tariffs.
    let rows: Vec<(i64, String, i64, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT t.id, t.name, t.price, t.basic_tariff_priority FROM tariff t \
         JOIN customer_tariff ct ON ct.tariff_id = t.id WHERE ct.customer_id = $1 ORDER BY t.id")
        .bind(id).fetch_all(p).await)?;
    let assigned: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut tariffs = ListView {
        title: "tariffs".into(),
        columns: columns(&["ID", "name", "price", "sub_kind"]),
        ..Default::default()
    };
    tariffs.rows = rows
        .iter()
        .map(|(tid, name, price, prio)| {
            vec![
                Cell::link(tid, format!("/admin/tariffs/{tid}")),
                Cell::link(name, format!("/admin/tariffs/{tid}")),
                Cell::text(money(*price)).class("num"),
                Cell::text(crate::i18n::t(
                    user.lang,
                    if *prio > 0 {
                        "sub_basic"
                    } else {
                        "sub_additional"
                    },
                )),
            ]
        })
        .collect();
    view.sections.push(tariffs);
    for tid in &assigned {
        let name = rows
            .iter()
            .find(|r| r.0 == *tid)
            .map(|r| r.1.clone())
            .unwrap_or_default();
        view.actions.push(Action {
            action: format!("/admin/customers/{id}/tariffs/{tid}/remove"),
            label: format!("{}: {name}", crate::i18n::t(user.lang, "remove")),
            confirm: None,
            hidden: Vec::new(),
            danger: true,
        });
    }
    // Forms: assign a tariff, create an account.
    let options: Vec<(i64, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT id, name FROM tariff WHERE client_id = $1 AND NOT archived ORDER BY name, id")
        .bind(client_id).fetch_all(p).await)?;
    let options = options
        .into_iter()
        .filter(|(t, _)| !assigned.contains(t))
        .map(|(t, n)| (t.to_string(), n))
        .collect();
    view.forms.push(assign_form(id, options));
    view.forms.push(account_form(id));
    panel.views.page("detail.html", &user, context! { view })
}

fn assign_form(customer: i64, options: Vec<(String, String)>) -> FormView {
    FormView {
        title: "assign_tariff".into(),
        action: format!("/admin/customers/{customer}/tariffs"),
        fields: vec![FormField::new("tariff_id", "tariff", "select")
            .required()
            .options(options)],
        ..Default::default()
    }
}

fn account_form(customer: i64) -> FormView {
    FormView {
        title: "sub_new_account".into(),
        action: format!("/admin/customers/{customer}/accounts"),
        fields: vec![
            FormField::new("abonement", "sub_abonement", "text"),
            FormField::new("password", "password", "text").help("sub_password_hint"),
        ],
        ..Default::default()
    }
}

async fn customer_edit(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    user.require_write()?;
    customer_client(&panel, &user, id).await?;
    let mut form = customer_form(
        &panel,
        &user,
        "sub_edit_customer",
        format!("/admin/customers/{id}/edit"),
        format!("/admin/customers/{id}"),
        false,
    )
    .await?;
    let sql = "SELECT firstname, lastname, email, mobile_phone_number, COALESCE(ext_id, ''), comment FROM customer WHERE id = $1";
    let v: (String, String, String, String, String, String) =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(id).fetch_one(p).await)?;
    let values = [v.0, v.1, v.2, v.3, v.4, v.5];
    for (f, value) in form.fields.iter_mut().zip(values) {
        f.value = value;
    }
    panel
        .views
        .page("form.html", &user, context! { view => form })
}

async fn customer_update(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form,
) -> PageResult {
    user.require_write()?;
    let client_id = customer_client(&panel, &user, id).await?;
    let form = customer_form(
        &panel,
        &user,
        "sub_edit_customer",
        format!("/admin/customers/{id}/edit"),
        format!("/admin/customers/{id}"),
        false,
    )
    .await?;
    let mut params = vec![("customer_id".to_string(), id.to_string())];
    params.extend(
        f.iter()
            .filter(|(k, _)| CUSTOMER_FIELDS.iter().any(|c| c.0 == k))
            .cloned(),
    );
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "customer/modify",
        params,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/customers/{id}"))),
        Err(e) => form_error(&panel, &user, form, &f, e),
    }
}

async fn tariff_assign(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form,
) -> PageResult {
    user.require_write()?;
    let client_id = customer_client(&panel, &user, id).await?;
    let tariff = param(&f, "tariff_id").unwrap_or_default().to_string();
    let params = vec![
        ("customer_id".into(), id.to_string()),
        ("tariff_id".into(), tariff),
    ];
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "customer/tariff/assign",
        params,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/customers/{id}"))),
        Err(e) => {
            let form = assign_form(id, Vec::new());
            form_error(&panel, &user, form, &f, e)
        }
    }
}

async fn tariff_remove(
    State(panel): State<Panel>,
    user: User,
    Path((id, tariff)): Path<(i64, i64)>,
) -> PageResult {
    user.require_write()?;
    let client_id = customer_client(&panel, &user, id).await?;
    let params = vec![
        ("customer_id".into(), id.to_string()),
        ("tariff_id".into(), tariff.to_string()),
    ];
    api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "customer/tariff/remove",
        params,
    )
    .await?;
    Ok(see_other(&format!("/admin/customers/{id}")))
}

async fn account_create(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form,
) -> PageResult {
    user.require_write()?;
    let client_id = customer_client(&panel, &user, id).await?;
    let mut params = vec![("customer_id".to_string(), id.to_string())];
    for k in ["abonement", "password"] {
        if let Some(v) = param_nonempty(&f, k) {
            params.push((k.into(), v.into()));
        }
    }
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "account/create",
        params,
    )
    .await
    {
        Ok(v) => match id_in(&v, &["account_id", "id"]) {
            Some(aid) => Ok(see_other(&format!(
                "/admin/accounts/{aid}?notice=sub_account_created"
            ))),
            None => Err(PageError::internal("account/create answered no id")),
        },
        Err(e) => form_error(&panel, &user, account_form(id), &f, e),
    }
}

type AccountListRow = (i64, String, bool, String, i64, String, String, Option<i64>);

async fn accounts(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (op_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let mut args = Vec::new();
    let mut cond = scope_sql(scope, &mut args);
    let search = param_nonempty(&q, "q").map(str::to_string);
    if let Some(s) = &search {
        args.push(Arg::Text(like_contains(s)));
        cond.push_str(&format!(
            " AND LOWER(t.abonement) LIKE ${} ESCAPE '\\'",
            args.len()
        ));
    }
    let state = param_nonempty(&q, "state").map(str::to_string);
    match state.as_deref() {
        Some("active") => cond.push_str(" AND t.active"),
        Some("inactive") => cond.push_str(" AND NOT t.active"),
        _ => {}
    }
    let count_sql = format!("SELECT COUNT(*) FROM account t WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p =>
        efir_store::bind_args!(sqlx::query_scalar(&count_sql), args).fetch_one(p).await)?;
    let mut view = ListView {
        title: "accounts".into(),
        columns: columns(&[
            "ID",
            "sub_abonement",
            "active",
            "status",
            "customer",
            "expires",
        ]),
        ..Default::default()
    };
    view.filters.push(Filter {
        name: "q".into(),
        label: "search".into(),
        value: search.unwrap_or_default(),
        options: Vec::new(),
    });
    view.filters.push(Filter {
        name: "state".into(),
        label: "state".into(),
        value: state.unwrap_or_default(),
        options: vec![
            ("active".into(), crate::i18n::t(user.lang, "active").into()),
            (
                "inactive".into(),
                crate::i18n::t(user.lang, "inactive").into(),
            ),
        ],
    });
    view.filters.extend(op_filter);
    view.paginate(total, page_of(&q), &q);
    let sql = format!(
        // The page of accounts first, then their customers: joining
        // before the offset would join every skipped account too.
        "SELECT t.id, t.abonement, t.active, t.status_reason, c.id, c.lastname, c.firstname, t.deactivation_date \
         FROM (SELECT * FROM account t WHERE {cond} ORDER BY t.id DESC LIMIT {PAGE_SIZE} OFFSET {}) t \
         JOIN customer c ON c.id = t.customer_id ORDER BY t.id DESC",
        (view.page - 1) * PAGE_SIZE
    );
    let rows: Vec<AccountListRow> = with_db!(panel.store.pool(), p => efir_store::bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)?;
    view.rows = rows
        .into_iter()
        .map(|(id, ab, active, reason, cid, last, first, until)| {
            vec![
                Cell::link(id, format!("/admin/accounts/{id}")),
                Cell::link(ab, format!("/admin/accounts/{id}")),
                yes_no(active),
                Cell::text(reason),
                Cell::link(
                    format!("{last} {first}").trim().to_string(),
                    format!("/admin/customers/{cid}"),
                ),
                Cell::text(time(until)),
            ]
        })
        .collect();
    panel.views.page("list.html", &user, context! { view })
}

type AccountRow = (
    i64,
    i64,
    i64,
    String,
    bool,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

async fn account_row(panel: &Panel, user: &User, id: i64) -> PageResult<AccountRow> {
    let sql =
        "SELECT id, client_id, customer_id, abonement, active, status_reason, activation_date, \
               deactivation_date, first_login_at FROM account WHERE id = $1";
    let row: Option<AccountRow> =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(id).fetch_optional(p).await)?;
    let row = row.ok_or_else(PageError::not_found)?;
    user.check(row.1)?;
    Ok(row)
}

async fn account(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Query(q): Query,
) -> PageResult {
    let a = account_row(&panel, &user, id).await?;
    let mut view = DetailView {
        title: a.3.clone(),
        kind: "account".into(),
        facts: vec![
            ("ID".into(), Cell::text(a.0)),
            (
                "customer".into(),
                Cell::link(a.2, format!("/admin/customers/{}", a.2)),
            ),
            ("active".into(), yes_no(a.4)),
            ("status".into(), Cell::text(&a.5)),
            ("created".into(), Cell::text(time(a.6))),
            ("expires".into(), Cell::text(time(a.7))),
            ("last_login".into(), Cell::text(time(a.8))),
        ],
        notice: param(&q, "notice")
            .filter(|n| n.starts_with("sub_"))
            .map(str::to_string),
        ..Default::default()
    };
    view.actions.push(Action {
        action: format!("/admin/accounts/{id}/logout-all"),
        label: "logout_all_devices".into(),
        confirm: Some("confirm_logout_devices".into()),
        hidden: Vec::new(),
        danger: true,
    });
    view.actions.push(Action {
        action: format!(
            "/admin/accounts/{id}/{}",
            if a.4 { "deactivate" } else { "activate" }
        ),
        label: if a.4 {
            "sub_deactivate"
        } else {
            "sub_activate"
        }
        .into(),
        confirm: None,
        hidden: Vec::new(),
        danger: a.4,
    });
    let devices: Vec<(String, String, String, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT device_uid, device_model, device_serial, last_seen_at FROM account_device WHERE account_id = $1 ORDER BY last_seen_at DESC LIMIT 100")
        .bind(id).fetch_all(p).await)?;
    let mut dev = ListView {
        title: "devices".into(),
        columns: columns(&["sub_uid", "sub_model", "Serial", "sub_last_seen"]),
        ..Default::default()
    };
    dev.rows = devices
        .into_iter()
        .map(|(uid, model, serial, seen)| {
            vec![
                Cell::text(uid),
                Cell::text(model),
                Cell::text(serial),
                Cell::text(time(Some(seen))),
            ]
        })
        .collect();
    view.sections.push(dev);
    let now = efir_store::now();
    let sessions: Vec<(String, String, i64, i64)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT device_uid, ip, created_at, last_seen_at FROM account_authkey WHERE account_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC LIMIT 100")
        .bind(id).bind(now).fetch_all(p).await)?;
    let mut ses = ListView {
        title: "sessions".into(),
        columns: columns(&["sub_uid", "sub_ip", "created", "sub_last_seen"]),
        ..Default::default()
    };
    ses.rows = sessions
        .into_iter()
        .map(|(uid, ip, created, seen)| {
            vec![
                Cell::text(uid),
                Cell::text(ip),
                Cell::text(time(Some(created))),
                Cell::text(time(Some(seen))),
            ]
        })
        .collect();
    view.sections.push(ses);
    let channels: Vec<(i64, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT DISTINCT c.id, c.name FROM channel c JOIN tariff_channel tc ON tc.channel_id = c.id \
         JOIN customer_tariff ct ON ct.tariff_id = tc.tariff_id JOIN tariff t ON t.id = ct.tariff_id \
         WHERE ct.customer_id = $1 AND c.enabled AND NOT t.archived ORDER BY c.name LIMIT 1000")
        .bind(a.2).fetch_all(p).await)?;
    let mut ch = ListView {
        title: "sub_account_channels".into(),
        columns: columns(&["ID", "name"]),
        ..Default::default()
    };
    ch.rows = channels
        .into_iter()
        .map(|(cid, name)| {
            vec![
                Cell::link(cid, format!("/admin/content/channel/{cid}")),
                Cell::link(name, format!("/admin/content/channel/{cid}")),
            ]
        })
        .collect();
    view.sections.push(ch);
    panel.views.page("detail.html", &user, context! { view })
}

async fn account_logout_all(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
) -> PageResult {
    user.require_write()?;
    let a = account_row(&panel, &user, id).await?;
    let mut tx = panel.store.begin(user.staff.actor()).await?;
    let ended = tx
        .execute(
            "account_authkey",
            "DELETE FROM account_authkey WHERE account_id = $1",
            &[Arg::I64(id)],
        )
        .await?;
    tx.audit(
        Some(a.1),
        "logout_all",
        "account",
        Some(id.to_string()),
        serde_json::json!({ "sessions": ended }),
    )
    .await?;
    tx.commit().await?;
    panel.mw.caches.bump(&panel.store, a.1).await;
    Ok(see_other(&format!(
        "/admin/accounts/{id}?notice=sub_logged_out"
    )))
}

async fn set_active(panel: &Panel, user: &User, id: i64, active: bool) -> PageResult {
    user.require_write()?;
    let a = account_row(panel, user, id).await?;
    let method = if active {
        "account/activate"
    } else {
        "account/deactivate"
    };
    api(
        panel,
        user,
        a.1,
        Api::Billing,
        method,
        vec![("account_id".into(), id.to_string())],
    )
    .await?;
    Ok(see_other(&format!("/admin/accounts/{id}")))
}

async fn account_activate(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
) -> PageResult {
    set_active(&panel, &user, id, true).await
}

async fn account_deactivate(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
) -> PageResult {
    set_active(&panel, &user, id, false).await
}

async fn tariffs(State(panel): State<Panel>, user: User, Query(q): Query) -> PageResult {
    let (op_filter, scope) = operator_scope(&panel, &user, &q).await?;
    let mut args = Vec::new();
    let mut cond = scope_sql(scope, &mut args);
    let search = param_nonempty(&q, "q").map(str::to_string);
    if let Some(s) = &search {
        args.push(Arg::Text(like_contains(s)));
        cond.push_str(&format!(
            " AND LOWER(t.name) LIKE ${} ESCAPE '\\'",
            args.len()
        ));
    }
    let count_sql = format!("SELECT COUNT(*) FROM tariff t WHERE {cond}");
    let total: i64 = with_db!(panel.store.pool(), p =>
        efir_store::bind_args!(sqlx::query_scalar(&count_sql), args).fetch_one(p).await)?;
    let mut view = ListView {
        title: "tariffs".into(),
        columns: columns(&["ID", "name", "price", "sub_period", "sub_kind", "customers"]),
        create: Some("/admin/tariffs/new".into()),
        ..Default::default()
    };
    view.filters.push(Filter {
        name: "q".into(),
        label: "search".into(),
        value: search.unwrap_or_default(),
        options: Vec::new(),
    });
    view.filters.extend(op_filter);
    view.paginate(total, page_of(&q), &q);
    let sql = format!(
        "SELECT t.id, t.name, t.price, t.period, t.basic_tariff_priority, \
         (SELECT COUNT(*) FROM customer_tariff ct WHERE ct.tariff_id = t.id) \
         FROM tariff t WHERE {cond} ORDER BY t.id DESC LIMIT {PAGE_SIZE} OFFSET {}",
        (view.page - 1) * PAGE_SIZE
    );
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = with_db!(panel.store.pool(), p => efir_store::bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)?;
    view.rows = rows
        .into_iter()
        .map(|(id, name, price, period, prio, n)| {
            vec![
                Cell::link(id, format!("/admin/tariffs/{id}")),
                Cell::link(name, format!("/admin/tariffs/{id}")),
                Cell::text(money(price)).class("num"),
                Cell::text(period).class("num"),
                Cell::text(crate::i18n::t(
                    user.lang,
                    if prio > 0 {
                        "sub_basic"
                    } else {
                        "sub_additional"
                    },
                )),
                Cell::text(n).class("num"),
            ]
        })
        .collect();
    panel.views.page("list.html", &user, context! { view })
}

const TARIFF_FIELDS: [(&str, &str, &str); 5] = [
    ("name", "name", "text"),
    ("price", "price", "text"),
    ("period", "sub_period", "number"),
    ("basic_tariff_priority", "sub_priority", "number"),
    ("description", "description", "textarea"),
];

async fn tariff_form(
    panel: &Panel,
    user: &User,
    title: &str,
    action: String,
    new: bool,
) -> PageResult<FormView> {
    let mut fields = Vec::new();
    if new && user.staff.is_superuser() {
        fields.push(
            FormField::new("client_id", "operator", "select")
                .required()
                .options(operator_options(panel, user).await?),
        );
    }
    for (name, label, kind) in TARIFF_FIELDS {
        let mut f = FormField::new(name, label, kind);
        if name == "name" {
            f = f.required();
        }
        fields.push(f);
    }
    Ok(FormView {
        title: title.into(),
        action,
        fields,
        back: "/admin/tariffs".into(),
        ..Default::default()
    })
}

async fn tariff_new(State(panel): State<Panel>, user: User) -> PageResult {
    user.require_admin()?;
    let mut form = tariff_form(
        &panel,
        &user,
        "sub_new_tariff",
        "/admin/tariffs/new".into(),
        true,
    )
    .await?;
    for f in &mut form.fields {
        match f.name.as_str() {
            "period" => f.value = "1".into(),
            "basic_tariff_priority" | "price" => f.value = "0".into(),
            _ => {}
        }
    }
    panel
        .views
        .page("form.html", &user, context! { view => form })
}

fn tariff_params(f: &[(String, String)]) -> Vec<(String, String)> {
    f.iter()
        .filter(|(k, _)| TARIFF_FIELDS.iter().any(|t| t.0 == k))
        .cloned()
        .collect()
}

async fn tariff_create(State(panel): State<Panel>, user: User, Form(f): Form) -> PageResult {
    user.require_admin()?;
    let form = tariff_form(
        &panel,
        &user,
        "sub_new_tariff",
        "/admin/tariffs/new".into(),
        true,
    )
    .await?;
    let client_id = match form_client(&user, &f) {
        Ok(c) => c,
        Err(e) => return form_error(&panel, &user, form, &f, e),
    };
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "tariff/create",
        tariff_params(&f),
    )
    .await
    {
        Ok(v) => {
            let id = id_in(&v, &["tariff_id", "id"])
                .or_else(|| v.get("tariff").and_then(|t| id_in(t, &["id"])));
            match id {
                Some(id) => Ok(see_other(&format!("/admin/tariffs/{id}"))),
                None => Ok(see_other("/admin/tariffs")),
            }
        }
        Err(e) => form_error(&panel, &user, form, &f, e),
    }
}

async fn tariff_client(panel: &Panel, user: &User, id: i64) -> PageResult<i64> {
    let c: Option<i64> = with_db!(panel.store.pool(), p =>
        sqlx::query_scalar("SELECT client_id FROM tariff WHERE id = $1").bind(id).fetch_optional(p).await)?;
    let c = c.ok_or_else(PageError::not_found)?;
    user.check(c)?;
    Ok(c)
}

async fn tariff(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    tariff_client(&panel, &user, id).await?;
    let sql = "SELECT name, description, price, period, basic_tariff_priority, sessions_count FROM tariff WHERE id = $1";
    let t: (String, String, i64, i64, i64, i64) =
        with_db!(panel.store.pool(), p => sqlx::query_as(sql).bind(id).fetch_one(p).await)?;
    let mut view = DetailView {
        title: t.0.clone(),
        kind: "tariff".into(),
        facts: vec![
            ("ID".into(), Cell::text(id)),
            ("price".into(), Cell::text(money(t.2))),
            ("sub_period".into(), Cell::text(t.3)),
            (
                "sub_kind".into(),
                Cell::text(crate::i18n::t(
                    user.lang,
                    if t.4 > 0 {
                        "sub_basic"
                    } else {
                        "sub_additional"
                    },
                )),
            ),
            ("sessions".into(), Cell::text(t.5)),
            ("description".into(), Cell::text(&t.1)),
        ],
        ..Default::default()
    };
    if user.can_admin() {
        view.links.push(Cell::link(
            crate::i18n::t(user.lang, "edit"),
            format!("/admin/tariffs/{id}/edit"),
        ));
    }
    // What it opens: channels, radio, cameras, videos, applications.
    for (title, table, link_table, column, kind) in [
        (
            "sub_channels_opened",
            "channel",
            "tariff_channel",
            "channel_id",
            "channel",
        ),
        ("radio", "radio", "tariff_radio", "radio_id", "radio"),
        ("cameras", "camera", "tariff_camera", "camera_id", "camera"),
        ("videos", "video", "tariff_video", "video_id", "video"),
        (
            "applications",
            "application",
            "tariff_application",
            "application_id",
            "application",
        ),
    ] {
        let sql = format!(
            "SELECT x.id, x.name FROM {table} x JOIN {link_table} l ON l.{column} = x.id WHERE l.tariff_id = $1 ORDER BY x.name LIMIT 1000"
        );
        let rows: Vec<(i64, String)> =
            with_db!(panel.store.pool(), p => sqlx::query_as(&sql).bind(id).fetch_all(p).await)?;
        if rows.is_empty() && kind != "channel" {
            continue;
        }
        let mut list = ListView {
            title: title.into(),
            columns: columns(&["ID", "name"]),
            ..Default::default()
        };
        list.rows = rows
            .into_iter()
            .map(|(xid, name)| {
                vec![
                    Cell::link(xid, format!("/admin/content/{kind}/{xid}")),
                    Cell::link(name, format!("/admin/content/{kind}/{xid}")),
                ]
            })
            .collect();
        view.sections.push(list);
    }
    let rows: Vec<(i64, String, String)> = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT c.id, c.lastname, c.firstname FROM customer c JOIN customer_tariff ct ON ct.customer_id = c.id \
         WHERE ct.tariff_id = $1 ORDER BY c.id DESC LIMIT 50").bind(id).fetch_all(p).await)?;
    let mut list = ListView {
        title: "sub_customers_of_tariff".into(),
        columns: columns(&["ID", "name"]),
        ..Default::default()
    };
    list.rows = rows
        .into_iter()
        .map(|(cid, l, f)| {
            vec![
                Cell::link(cid, format!("/admin/customers/{cid}")),
                Cell::text(format!("{l} {f}").trim().to_string()),
            ]
        })
        .collect();
    view.sections.push(list);
    panel.views.page("detail.html", &user, context! { view })
}

async fn tariff_edit(State(panel): State<Panel>, user: User, Path(id): Path<i64>) -> PageResult {
    user.require_admin()?;
    tariff_client(&panel, &user, id).await?;
    let mut form = tariff_form(
        &panel,
        &user,
        "sub_edit_tariff",
        format!("/admin/tariffs/{id}/edit"),
        false,
    )
    .await?;
    let t: (String, i64, i64, i64, String) = with_db!(panel.store.pool(), p => sqlx::query_as(
        "SELECT name, price, period, basic_tariff_priority, description FROM tariff WHERE id = $1").bind(id).fetch_one(p).await)?;
    let values = [t.0, money(t.1), t.2.to_string(), t.3.to_string(), t.4];
    for (f, v) in form.fields.iter_mut().zip(values) {
        f.value = v;
    }
    form.back = format!("/admin/tariffs/{id}");
    panel
        .views
        .page("form.html", &user, context! { view => form })
}

async fn tariff_update(
    State(panel): State<Panel>,
    user: User,
    Path(id): Path<i64>,
    Form(f): Form,
) -> PageResult {
    user.require_admin()?;
    let client_id = tariff_client(&panel, &user, id).await?;
    let form = tariff_form(
        &panel,
        &user,
        "sub_edit_tariff",
        format!("/admin/tariffs/{id}/edit"),
        false,
    )
    .await?;
    let mut params = vec![("tariff_id".to_string(), id.to_string())];
    params.extend(tariff_params(&f));
    match api(
        &panel,
        &user,
        client_id,
        Api::Billing,
        "tariff/modify",
        params,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/tariffs/{id}"))),
        Err(e) => form_error(&panel, &user, form, &f, e),
    }
}
