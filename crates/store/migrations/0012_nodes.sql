-- Efir 0012: the nodes of a cluster. Every `efir serve` / `router` /
-- `worker` process upserts its row every few seconds and removes it when
-- it stops; `efir manage cluster status` lists them, a row not refreshed
-- for a while being a node that died.
CREATE TABLE efir_node (
    name TEXT PRIMARY KEY,
    roles TEXT NOT NULL,
    version TEXT NOT NULL,
    listen TEXT NOT NULL DEFAULT '',
    pid BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    load1 DOUBLE PRECISION NOT NULL DEFAULT 0,
    rss_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX efir_node_seen_idx ON efir_node (last_seen_at);
