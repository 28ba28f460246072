-- Efir 0011: what the admin web panel keeps per staff user, and indexes
-- its list pages search by.

-- The panel's interface language of each staff user (`en`, `ru`).
ALTER TABLE staff_user ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

-- Customer and account lists of one operator, newest first.
CREATE INDEX IF NOT EXISTS customer_client_id_idx ON customer (client_id, id);
CREATE INDEX IF NOT EXISTS account_client_id_idx ON account (client_id, id);
