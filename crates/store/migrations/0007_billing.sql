-- Efir 0007: built-in billing runs (back office): payments asked of an
-- operator's payment provider by `make-autopayments`, and the subscriptions
-- of the "new billing" model.

-- A payment Efir asked the operator's payment provider for (autopayments).
-- `idempotency_key` is sent with the request, so that a retried request
-- never charges the card twice; a confirmed payment becomes exactly one
-- `customer_transaction` with ext_id `payment:<id>`.
CREATE TABLE payment (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    -- money units (efir_core::money), always positive
    amount BIGINT NOT NULL,
    -- pending, confirmed, declined or expired
    state TEXT NOT NULL DEFAULT 'pending',
    idempotency_key TEXT NOT NULL UNIQUE,
    provider_ref TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    -- the end of the paid period this payment is for (one per period)
    period_end BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (customer_id, period_end)
);
CREATE INDEX payment_state_idx ON payment (state, created_at);

-- The "new billing" subscription model (`migrate-to-nb`, irreversible):
-- one subscription per (customer, tariff), each charged and extended on
-- its own end date.
CREATE TABLE billing_subscription (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    start_date BIGINT NOT NULL,
    end_date BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (customer_id, tariff_id)
);
CREATE INDEX billing_subscription_client_idx ON billing_subscription (client_id, end_date);

-- Operators moved to the subscription model.
CREATE TABLE billing_nb_client (
    client_id BIGINT PRIMARY KEY REFERENCES client (id) ON DELETE CASCADE,
    migrated_at BIGINT NOT NULL
);
