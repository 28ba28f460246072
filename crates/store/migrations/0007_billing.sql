-- Efir 0007: built-in billing runs (back office): payments asked of an
-- operator's payment provider by `make-autopayments`.

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
