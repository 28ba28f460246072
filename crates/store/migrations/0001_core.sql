-- Efir 0001: the multi-tenant core (operators, staff users), the insert-only
-- audit log, small key/value state and scheduler run records.
--
-- One file serves both databases. `{{id}}` becomes an auto-increment
-- primary key of the dialect; blocks after `-- @sqlite` or `-- @postgres`
-- run on that database only, up to the next `-- @all`.

CREATE TABLE client (
    id {{id}},
    name TEXT NOT NULL,
    api_key TEXT NOT NULL UNIQUE,
    billing_api_key TEXT NOT NULL UNIQUE,
    content_api_key TEXT NOT NULL UNIQUE,
    domain_prefix TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    default_language TEXT NOT NULL DEFAULT 'en',
    language1 TEXT,
    language2 TEXT,
    language3 TEXT,
    language4 TEXT,
    language5 TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE staff_user (
    id {{id}},
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    monitoring_user BOOLEAN NOT NULL DEFAULT FALSE,
    client_id BIGINT REFERENCES client (id) ON DELETE RESTRICT,
    last_login BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX staff_user_client_idx ON staff_user (client_id);

CREATE TABLE audit_event (
    id {{id}},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    client_id BIGINT,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_event_entity_idx ON audit_event (entity, entity_id);
CREATE INDEX audit_event_client_idx ON audit_event (client_id, at);

CREATE TABLE efir_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE schedule_run (
    name TEXT NOT NULL,
    slot BIGINT NOT NULL,
    node TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    duration_ms BIGINT,
    outcome TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    PRIMARY KEY (name, slot)
);
CREATE INDEX schedule_run_started_idx ON schedule_run (name, started_at);

-- @sqlite
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is insert-only');
END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is insert-only');
END;

-- @postgres
CREATE FUNCTION audit_event_insert_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is insert-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_insert_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_insert_only();
