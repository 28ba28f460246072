-- Messages: the outbox of every SMS and e-mail Efir sends, and the
-- expiry notices already sent (so that a second run of
-- send-activation-expires-messages sends nothing new).

CREATE TABLE outbound_message (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customer (id) ON DELETE SET NULL,
    account_id BIGINT REFERENCES account (id) ON DELETE SET NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    gateway_id TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbound_message_due_idx ON outbound_message (state, next_attempt_at);
CREATE INDEX outbound_message_client_idx ON outbound_message (client_id, created_at);

CREATE TABLE expiry_notice (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    UNIQUE (account_id, expires_at)
);
