-- Efir 0009: statistics and reports of the back office.
--
-- Times are Unix seconds; days, hours and months are the UTC instant they
-- start at. Money sums are fixed-point units like `customer_transaction`.
-- Every table here is derived data or an operational record: it can be
-- recomputed (statistics) or is pruned by the clean-up commands.

-- Sessions online per operator, sampled by `cache-max-online`.
CREATE TABLE stats_online_sample (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    online BIGINT NOT NULL
);
CREATE INDEX stats_online_sample_client_idx ON stats_online_sample (client_id, at);
CREATE INDEX stats_online_sample_at_idx ON stats_online_sample (at);

-- The highest sample of each operator and UTC day, with when it was seen.
CREATE TABLE stats_online_daily (
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    day BIGINT NOT NULL,
    max_online BIGINT NOT NULL,
    max_at BIGINT NOT NULL,
    samples BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day)
);
CREATE INDEX stats_online_daily_day_idx ON stats_online_daily (day);

-- One row per operator and UTC day (`save-stats`, `collect-daily-stats`);
-- recomputing a day replaces its row.
CREATE TABLE stats_daily (
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    day BIGINT NOT NULL,
    customers BIGINT NOT NULL,
    accounts BIGINT NOT NULL,
    active_accounts BIGINT NOT NULL,
    new_customers BIGINT NOT NULL,
    new_accounts BIGINT NOT NULL,
    deactivations BIGINT NOT NULL,
    max_online BIGINT NOT NULL,
    max_online_at BIGINT,
    payments BIGINT NOT NULL,
    payments_count BIGINT NOT NULL,
    charges BIGINT NOT NULL,
    charges_count BIGINT NOT NULL,
    viewing_events BIGINT NOT NULL,
    viewing_seconds BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, day)
);
CREATE INDEX stats_daily_day_idx ON stats_daily (day);

-- Subscriber dynamics per bucket (`hour`, `day`, `month`):
-- totals at the end of the bucket and what happened within it.
CREATE TABLE stats_dynamic (
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    granularity TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    customers BIGINT NOT NULL,
    accounts BIGINT NOT NULL,
    active_accounts BIGINT NOT NULL,
    new_customers BIGINT NOT NULL,
    new_accounts BIGINT NOT NULL,
    deactivated_accounts BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, granularity, bucket)
);
CREATE INDEX stats_dynamic_bucket_idx ON stats_dynamic (bucket);

-- Where `cache-customers-dynamic` stopped per operator and granularity:
-- the start of the first bucket not computed yet.
CREATE TABLE stats_dynamic_cursor (
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    granularity TEXT NOT NULL,
    next_bucket BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, granularity)
);

-- Viewing events pushed by devices (`stat/push/`), also the subscribers'
-- viewed content history.
CREATE TABLE viewing_event (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    -- channel, vod, radio or camera
    content_type TEXT NOT NULL,
    content_id BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    device_uid TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);
CREATE INDEX viewing_event_client_idx ON viewing_event (client_id, started_at);
CREATE INDEX viewing_event_account_idx ON viewing_event (account_id, started_at);

-- The customer log: what subscribers did (logins, logouts), pruned by
-- `clear-customer-log`.
CREATE TABLE customer_log (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    account_id BIGINT REFERENCES account (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX customer_log_client_idx ON customer_log (client_id, at);
CREATE INDEX customer_log_at_idx ON customer_log (at);
