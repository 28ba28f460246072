-- Efir 0004: the CDN request router. Regions and the subnets that map
-- client addresses to them, edge servers with what they serve, and the
-- order in which regions stand in for each other. Every router node loads
-- all of it into an immutable snapshot and reloads when `router_version`
-- (efir_meta) changes.

CREATE TABLE router_region (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    -- Regions tried next when this one cannot serve, by name, in order
    -- (comma-separated).
    fallback TEXT NOT NULL DEFAULT '',
    -- Tried for clients of no region and after every fallback.
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    -- Countries (ISO codes, comma-separated) whose clients come here when
    -- no subnet matches, located through geo_ip_range.
    countries TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE router_subnet (
    id {{id}},
    -- Normalised CIDR (`10.1.0.0/16`, `2001:db8::/32`).
    cidr TEXT NOT NULL UNIQUE,
    region_id BIGINT NOT NULL REFERENCES router_region (id) ON DELETE CASCADE
);

CREATE TABLE router_edge (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    -- Where redirects point: `https://edge1.example.net` (path appended).
    base_url TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES router_region (id),
    weight BIGINT NOT NULL DEFAULT 100,
    -- Sessions it may take at once; NULL = unlimited.
    capacity BIGINT,
    -- Mbit/s it may deliver (compared with what its stats URL reports);
    -- NULL = unlimited.
    capacity_mbps BIGINT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    draining BOOLEAN NOT NULL DEFAULT FALSE,
    -- live, catchup, vod (comma-separated).
    serves TEXT NOT NULL DEFAULT 'live,catchup,vod',
    -- Channels it carries (comma-separated ids); '' = all.
    channels TEXT NOT NULL DEFAULT '',
    -- Polled by the router; '' = not polled (taken as healthy).
    health_url TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Content pinned to an edge or a region: a channel (live, catch-up) by
-- id, or VOD assets by path or path prefix ending in '/'. A pinned edge
-- that cannot serve falls back to normal routing.
CREATE TABLE router_override (
    id {{id}},
    kind TEXT NOT NULL,
    content_key TEXT NOT NULL,
    edge_id BIGINT REFERENCES router_edge (id) ON DELETE CASCADE,
    region_id BIGINT REFERENCES router_region (id) ON DELETE CASCADE,
    UNIQUE (kind, content_key)
);
