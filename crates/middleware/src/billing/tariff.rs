//! `tariff/*`: the operator's packages.

use efir_core::money::Money;
use efir_store::audit::Arg;
use efir_store::clients::Client;
use efir_store::Tx;
use serde_json::{json, Value};

use super::{begin, begin_read, exec, flag, insert_id, list_values, ranged_i64, row, rows, unique};
use crate::api::{format_date, ApiError, Fields, Params};
use crate::Middleware;

/// Which tariffs a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Every tariff.
    All,
    /// Basic tariffs (`basic_tariff_priority` > 0).
    Basic,
    /// Additional tariffs (`basic_tariff_priority` = 0).
    Additional,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct TariffRow {
    id: i64,
    ext_id: Option<String>,
    name: String,
    name_lang1: Option<String>,
    name_lang2: Option<String>,
    name_lang3: Option<String>,
    name_lang4: Option<String>,
    name_lang5: Option<String>,
    description: String,
    period: i64,
    price: i64,
    activation_price: i64,
    basic_tariff_priority: i64,
    assigned_by_default: bool,
    available_for_inactive_accounts: bool,
    sessions_count: i64,
    available_everywhere: bool,
    created_at: i64,
}

const COLUMNS: &str = "id, ext_id, name, name_lang1, name_lang2, name_lang3, name_lang4, \
    name_lang5, description, period, price, activation_price, basic_tariff_priority, \
    assigned_by_default, available_for_inactive_accounts, sessions_count, \
    available_everywhere, created_at";

fn tariff_json(t: &TariffRow, countries: Vec<String>, cities: Vec<i64>) -> Value {
    json!({
        "id": t.id,
        "ext_id": t.ext_id,
        "name": t.name,
        "name_lang1": t.name_lang1,
        "name_lang2": t.name_lang2,
        "name_lang3": t.name_lang3,
        "name_lang4": t.name_lang4,
        "name_lang5": t.name_lang5,
        "description": t.description,
        "period": t.period,
        "price": Money(t.price).to_string(),
        "activation_price": Money(t.activation_price).to_string(),
        "basic_tariff_priority": t.basic_tariff_priority,
        "is_basic": flag(t.basic_tariff_priority > 0),
        "assigned_by_default": flag(t.assigned_by_default),
        "available_for_inactive_accounts": flag(t.available_for_inactive_accounts),
        "sessions_count": t.sessions_count,
        "available_everywhere": flag(t.available_everywhere),
        "country": countries,
        "city_id": cities,
        "created_at": format_date(Some(t.created_at)),
    })
}

/// The validated fields of a create or modify call.
#[derive(Debug, Default)]
struct Changes {
    columns: Vec<(&'static str, Arg)>,
    ext_id: Option<Option<String>>,
    /// ISO codes, upper case, when given.
    countries: Option<Vec<String>>,
    cities: Option<Vec<i64>>,
}

async fn read_changes(
    tx: &mut Tx,
    p: &Params,
    f: &mut Fields,
    creating: bool,
) -> Result<Changes, ApiError> {
    let mut ch = Changes::default();
    if creating {
        let name = f.required_str(p, "name");
        if name.chars().count() > 200 {
            f.error("name", "At most 200 characters.");
        }
        ch.columns.push(("name", Arg::Text(name)));
    } else if let Some(name) = f.optional_str(p, "name", 200) {
        if name.is_empty() {
            f.error("name", "Must not be empty.");
        }
        ch.columns.push(("name", Arg::Text(name)));
    }
    for column in [
        "name_lang1",
        "name_lang2",
        "name_lang3",
        "name_lang4",
        "name_lang5",
    ] {
        if let Some(v) = f.optional_str(p, column, 200) {
            ch.columns
                .push((column, Arg::OptText(Some(v).filter(|v| !v.is_empty()))));
        }
    }
    if let Some(d) = f.optional_str(p, "description", 5000) {
        ch.columns.push(("description", Arg::Text(d)));
    }
    if let Some(n) = ranged_i64(f, p, "period", 0, 120) {
        ch.columns.push(("period", Arg::I64(n)));
    }
    for name in ["price", "activation_price"] {
        if let Some(m) = f.optional_money(p, name) {
            if m.is_negative() {
                f.error(name, "Must not be negative.");
            }
            ch.columns.push((name, Arg::I64(m.units())));
        }
    }
    if let Some(n) = ranged_i64(f, p, "basic_tariff_priority", 0, 10) {
        ch.columns.push(("basic_tariff_priority", Arg::I64(n)));
    }
    if let Some(n) = ranged_i64(f, p, "sessions_count", 0, 1000) {
        ch.columns.push(("sessions_count", Arg::I64(n)));
    }
    for name in [
        "available_for_inactive_accounts",
        "available_everywhere",
        "assigned_by_default",
    ] {
        if let Some(b) = f.optional_bool(p, name) {
            ch.columns.push((name, Arg::Bool(b)));
        }
    }
    if let Some(ext) = f.optional_str(p, "ext_id", 100) {
        ch.ext_id = Some(Some(ext).filter(|v| !v.is_empty()));
    }
    if p.has("country") {
        let mut codes = Vec::new();
        for c in list_values(p, "country") {
            if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                let c = c.to_ascii_uppercase();
                if !codes.contains(&c) {
                    codes.push(c);
                }
            } else {
                f.error(
                    "country",
                    format!("`{c}` is not an ISO 3166-1 alpha-2 code."),
                );
            }
        }
        ch.countries = Some(codes);
    }
    if p.has("city_id") {
        let mut ids = Vec::new();
        for c in list_values(p, "city_id") {
            match c.parse::<i64>() {
                Ok(id) => {
                    let found: Option<(i64,)> =
                        row(tx, "SELECT id FROM city WHERE id = $1", &[Arg::I64(id)]).await?;
                    if found.is_none() {
                        f.error("city_id", format!("city {id} not found"));
                    } else if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                Err(_) => f.error("city_id", format!("`{c}` is not a whole number.")),
            }
        }
        ch.cities = Some(ids);
    }
    Ok(ch)
}

/// Replaces a tariff's countries and cities with those given.
async fn write_geo(tx: &mut Tx, tariff_id: i64, ch: &Changes) -> Result<(), ApiError> {
    if let Some(codes) = &ch.countries {
        exec(
            tx,
            "tariff_country",
            "DELETE FROM tariff_country WHERE tariff_id = $1",
            &[Arg::I64(tariff_id)],
        )
        .await?;
        for code in codes {
            exec(
                tx,
                "country",
                "INSERT INTO country (code, name) VALUES ($1, $1) ON CONFLICT (code) DO NOTHING",
                &[Arg::Text(code.clone())],
            )
            .await?;
            let found: Option<(i64,)> = row(
                tx,
                "SELECT id FROM country WHERE code = $1",
                &[Arg::Text(code.clone())],
            )
            .await?;
            let (country_id,) = found.ok_or_else(|| ApiError::generic("country vanished"))?;
            exec(
                tx,
                "tariff_country",
                "INSERT INTO tariff_country (tariff_id, country_id) VALUES ($1, $2)",
                &[Arg::I64(tariff_id), Arg::I64(country_id)],
            )
            .await?;
        }
    }
    if let Some(ids) = &ch.cities {
        exec(
            tx,
            "tariff_city",
            "DELETE FROM tariff_city WHERE tariff_id = $1",
            &[Arg::I64(tariff_id)],
        )
        .await?;
        for id in ids {
            exec(
                tx,
                "tariff_city",
                "INSERT INTO tariff_city (tariff_id, city_id) VALUES ($1, $2)",
                &[Arg::I64(tariff_id), Arg::I64(*id)],
            )
            .await?;
        }
    }
    Ok(())
}

fn audit_data(ch: &Changes) -> Value {
    let fields: Vec<&str> = ch.columns.iter().map(|(c, _)| *c).collect();
    json!({
        "fields": fields,
        "ext_id": ch.ext_id,
        "country": ch.countries,
        "city_id": ch.cities,
    })
}

/// `tariff/create`: `name` (required), `name_lang1..5`, `description`,
/// `period` (months, 0 = never charged), `price`, `activation_price`,
/// `basic_tariff_priority` (0 additional, 1..10 basic),
/// `available_for_inactive_accounts`, `sessions_count`,
/// `available_everywhere`, `assigned_by_default`, `ext_id`, `country`
/// (repeatable ISO codes), `city_id` (repeatable) → `tariff_id` and the
/// tariff.
pub(super) async fn create(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let mut f = Fields::new();
    let ch = read_changes(&mut tx, p, &mut f, true).await?;
    f.finish()?;
    let now = efir_store::now();
    let ext_id = ch.ext_id.clone().flatten();
    let mut columns = vec!["client_id", "ext_id", "created_at", "updated_at"];
    let mut args = vec![
        Arg::I64(client.id),
        Arg::OptText(ext_id.clone()),
        Arg::I64(now),
        Arg::I64(now),
    ];
    for (c, a) in &ch.columns {
        columns.push(c);
        args.push(a.clone());
    }
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO tariff ({}) VALUES ({}) RETURNING id",
        columns.join(", "),
        placeholders.join(", ")
    );
    let id = insert_id(&mut tx, "tariff", &sql, &args)
        .await
        .map_err(|e| unique(e, "ext_id", ext_id.as_deref().unwrap_or_default()))?;
    write_geo(&mut tx, id, &ch).await?;
    tx.audit(
        Some(client.id),
        "create",
        "tariff",
        Some(id.to_string()),
        audit_data(&ch),
    )
    .await?;
    let out = one_json(&mut tx, client, id).await?;
    tx.commit().await?;
    let mut out = out;
    out["tariff_id"] = json!(id);
    Ok(out)
}

/// `tariff/modify`: `tariff_id` or `tariff_ext_id`, then any field of
/// `tariff/create` (`country`/`city_id` replace the lists) → the tariff.
pub(super) async fn modify(
    mw: &Middleware,
    client: &Client,
    p: &Params,
) -> Result<Value, ApiError> {
    let mut tx = begin(mw, client).await?;
    let mut f = Fields::new();
    let which = super::ident(&mut f, p, "tariff_id", "tariff_ext_id");
    let ch = read_changes(&mut tx, p, &mut f, false).await?;
    f.finish()?;
    let which = which.ok_or_else(|| ApiError::field("tariff_id", "This field is required."))?;
    let found: Option<(i64,)> = match &which {
        super::Ident::Id(id) => {
            row(
                &mut tx,
                "SELECT id FROM tariff WHERE id = $1 AND client_id = $2",
                &[Arg::I64(*id), Arg::I64(client.id)],
            )
            .await?
        }
        super::Ident::Key(ext) => {
            row(
                &mut tx,
                "SELECT id FROM tariff WHERE ext_id = $1 AND client_id = $2",
                &[Arg::Text(ext.clone()), Arg::I64(client.id)],
            )
            .await?
        }
    };
    let (id,) = found.ok_or_else(|| {
        ApiError::field(
            "tariff_id",
            format!("tariff {} not found", which.describe()),
        )
    })?;
    let mut sets = Vec::new();
    let mut args = Vec::new();
    for (c, a) in &ch.columns {
        args.push(a.clone());
        sets.push(format!("{c} = ${}", args.len()));
    }
    if let Some(ext) = &ch.ext_id {
        args.push(Arg::OptText(ext.clone()));
        sets.push(format!("ext_id = ${}", args.len()));
    }
    args.push(Arg::I64(efir_store::now()));
    sets.push(format!("updated_at = ${}", args.len()));
    args.push(Arg::I64(id));
    let sql = format!(
        "UPDATE tariff SET {} WHERE id = ${}",
        sets.join(", "),
        args.len()
    );
    let ext_text = ch.ext_id.clone().flatten().unwrap_or_default();
    exec(&mut tx, "tariff", &sql, &args)
        .await
        .map_err(|e| unique(e, "ext_id", &ext_text))?;
    write_geo(&mut tx, id, &ch).await?;
    // Channel lists of subscribers may change with a tariff's basic flag.
    exec(
        &mut tx,
        "account",
        "UPDATE account SET channel_list_changed_at = $1 WHERE customer_id IN \
         (SELECT customer_id FROM customer_tariff WHERE tariff_id = $2)",
        &[Arg::I64(efir_store::now()), Arg::I64(id)],
    )
    .await?;
    tx.audit(
        Some(client.id),
        "update",
        "tariff",
        Some(id.to_string()),
        audit_data(&ch),
    )
    .await?;
    let out = one_json(&mut tx, client, id).await?;
    tx.commit().await?;
    Ok(out)
}

async fn geo_of(
    tx: &mut Tx,
    ids: &[i64],
) -> Result<(Vec<(i64, String)>, Vec<(i64, i64)>), ApiError> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let countries: Vec<(i64, String)> = rows(
        tx,
        &format!(
            "SELECT tc.tariff_id, c.code FROM tariff_country tc \
             JOIN country c ON c.id = tc.country_id WHERE tc.tariff_id IN ({list}) ORDER BY c.code"
        ),
        &[],
    )
    .await?;
    let cities: Vec<(i64, i64)> = rows(
        tx,
        &format!(
            "SELECT tariff_id, city_id FROM tariff_city WHERE tariff_id IN ({list}) \
             ORDER BY city_id"
        ),
        &[],
    )
    .await?;
    Ok((countries, cities))
}

async fn to_json(tx: &mut Tx, tariffs: &[TariffRow]) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = tariffs.iter().map(|t| t.id).collect();
    let (countries, cities) = geo_of(tx, &ids).await?;
    Ok(tariffs
        .iter()
        .map(|t| {
            let cs = countries
                .iter()
                .filter(|(id, _)| *id == t.id)
                .map(|(_, c)| c.clone())
                .collect();
            let ci = cities
                .iter()
                .filter(|(id, _)| *id == t.id)
                .map(|(_, c)| *c)
                .collect();
            tariff_json(t, cs, ci)
        })
        .collect())
}

async fn one_json(tx: &mut Tx, client: &Client, id: i64) -> Result<Value, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM tariff WHERE id = $1 AND client_id = $2");
    let found: Option<TariffRow> = row(tx, &sql, &[Arg::I64(id), Arg::I64(client.id)]).await?;
    let t = found.ok_or_else(|| ApiError::field("tariff_id", format!("tariff {id} not found")))?;
    Ok(to_json(tx, &[t]).await?.pop().unwrap_or(Value::Null))
}

/// `tariff/list`, `tariff/basic/list`, `tariff/additional/list` →
/// `tariffs[{id, name, price, period, basic_tariff_priority, is_basic,
/// available_for_inactive_accounts, ext_id, …}]` (archived ones left out).
pub(super) async fn list(
    mw: &Middleware,
    client: &Client,
    _p: &Params,
    kind: Kind,
) -> Result<Value, ApiError> {
    let filter = match kind {
        Kind::All => "",
        Kind::Basic => " AND basic_tariff_priority > 0",
        Kind::Additional => " AND basic_tariff_priority = 0",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM tariff WHERE client_id = $1 AND archived = FALSE{filter} \
         ORDER BY basic_tariff_priority DESC, id"
    );
    let mut tx = begin_read(mw, client).await?;
    let tariffs: Vec<TariffRow> = rows(&mut tx, &sql, &[Arg::I64(client.id)]).await?;
    let out = to_json(&mut tx, &tariffs).await?;
    tx.rollback().await?;
    Ok(json!({"tariffs": out}))
}
