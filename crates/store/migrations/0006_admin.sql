-- Efir 0006: per-operator settings, staff sessions of the admin API and
-- the admin request log.

-- Settings of one operator as dotted keys (`billing.mode`, `sms.backend`),
-- each validated by the part that owns its prefix before it is written.
CREATE TABLE client_setting (
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, key)
);

-- A staff user's login to the admin API. Only a SHA-256 of the token is
-- kept, so that a copy of the database opens no session.
CREATE TABLE staff_session (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES staff_user (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX staff_session_user_idx ON staff_session (user_id);
CREATE INDEX staff_session_expires_idx ON staff_session (expires_at);

-- Every admin API request: who, what, the answer and how long it took.
CREATE TABLE request_log (
    id {{id}},
    at BIGINT NOT NULL,
    user_id BIGINT,
    username TEXT NOT NULL DEFAULT '',
    client_id BIGINT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    status BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX request_log_at_idx ON request_log (at);
CREATE INDEX request_log_user_idx ON request_log (user_id, at);
CREATE INDEX audit_event_at_idx ON audit_event (at);
CREATE INDEX audit_event_actor_idx ON audit_event (actor, at);
