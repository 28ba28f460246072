#!/usr/bin/env python3
"""Seed SQL for the panel list-page benchmark (bench/panel/run.sh).

    seed.py postgres|sqlite CLIENT_ID CUSTOMERS PROGRAMMES NOW

prints SQL that both databases accept once the row source is chosen
(generate_series on PostgreSQL, a recursive CTE on SQLite): CUSTOMERS
customers with one account each, an audit event per customer, as many
request-log rows, 20 tariffs, 100 EPG channels (each with a channel of the
operator) holding PROGRAMMES programmes in all, half-hour slots from ten
days ago.
"""
import sys

db, client, customers, programmes, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
epg_channels = 100
per_channel = programmes // epg_channels


def rows(n, select, table_cols):
    """INSERT INTO table_cols SELECT select over i = 1..n."""
    if db == "postgres":
        return f"INSERT INTO {table_cols} SELECT {select} FROM generate_series(1, {n}) AS g(i);"
    return (f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
            f"INSERT INTO {table_cols} SELECT {select} FROM g;")


out = ["BEGIN;"]
out.append(rows(
    customers,
    f"{client}, 'ext' || i, CASE i % 5 WHEN 0 THEN 'Ivan' WHEN 1 THEN 'Maria' WHEN 2 THEN 'Pyotr' "
    f"WHEN 3 THEN 'Olga' ELSE 'Anna' END, 'Surname' || i, 'user' || i || '@bench.tv', "
    f"'+7900' || (1000000 + i), 100000, {now} - ({customers} - i) * 60, {now} - ({customers} - i) * 60",
    "customer (client_id, ext_id, firstname, lastname, email, mobile_phone_number, balance, "
    "created_at, updated_at)"))
out.append(
    f"INSERT INTO account (client_id, customer_id, abonement, active, created_at, updated_at) "
    f"SELECT client_id, id, 'ab' || id, (id % 10 <> 0), created_at, created_at FROM customer "
    f"WHERE client_id = {client};")
out.append(rows(
    20,
    f"{client}, 'Tariff ' || i, 1, 1000 * i, CASE WHEN i <= 3 THEN i ELSE 0 END, {now}, {now}",
    "tariff (client_id, name, period, price, basic_tariff_priority, created_at, updated_at)"))
out.append(
    f"INSERT INTO epg_source (client_id, name, url, created_at, updated_at) "
    f"VALUES (NULL, 'bench-source', 'http://127.0.0.1:9/epg.xml', {now}, {now});")
out.append(rows(
    epg_channels,
    f"(SELECT id FROM epg_source WHERE name = 'bench-source'), 'ch' || i, 'EPG channel ' || i, "
    f"i, {now}, {now}",
    "epg_channel (source_id, ext_id, name, sort, created_at, updated_at)"))
out.append(
    f"INSERT INTO channel (client_id, name, epg_channel_id, sort, created_at, updated_at) "
    f"SELECT {client}, 'Channel ' || ext_id, id, sort, {now}, {now} FROM epg_channel;")
start = now - 10 * 86400
if db == "postgres":
    slots = f"generate_series(0, {per_channel - 1}) AS s(j)"
    out.append(
        f"INSERT INTO epg_programme (epg_channel_id, start_at, stop_at, title, description, hash) "
        f"SELECT ec.id, {start} + s.j * 1800, {start} + (s.j + 1) * 1800, "
        f"'Programme ' || s.j, 'A programme of the benchmark', md5(ec.id || ':' || s.j) "
        f"FROM epg_channel ec CROSS JOIN {slots};")
else:
    out.append(
        f"WITH RECURSIVE s(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM s WHERE j < {per_channel - 1}) "
        f"INSERT INTO epg_programme (epg_channel_id, start_at, stop_at, title, description, hash) "
        f"SELECT ec.id, {start} + s.j * 1800, {start} + (s.j + 1) * 1800, "
        f"'Programme ' || s.j, 'A programme of the benchmark', ec.id || ':' || s.j "
        f"FROM epg_channel ec CROSS JOIN s;")
out.append(
    f"INSERT INTO audit_event (at, actor, client_id, action, entity, entity_id, data) "
    f"SELECT created_at, 'system:bench', client_id, 'create', 'customer', CAST(id AS TEXT), "
    f"'{{\"firstname\": \"' || firstname || '\"}}' FROM customer WHERE client_id = {client};")
out.append(rows(
    customers,
    f"{now} - ({customers} - i) * 30, NULL, 'api-user', {client}, 'GET', '/admin/api/customers', "
    f"'page=' || (i % 100), 200, 3 + i % 20, '127.0.0.1'",
    "request_log (at, user_id, username, client_id, method, path, query, status, duration_ms, ip)"))
out.append("COMMIT;")
out.append("ANALYZE;")
print("\n".join(out))
