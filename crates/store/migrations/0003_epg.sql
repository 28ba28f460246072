-- Efir 0003: the electronic programme guide. Sources of XMLTV guides,
-- their EPG channels (mapped to Efir channels through
-- `channel.epg_channel_id`), programmes, categories and premieres.
--
-- Conventions as in 0002: times are Unix seconds in UTC; lists and
-- per-language texts are JSON in TEXT columns (`{"en": "News"}`).

CREATE TABLE epg_source (
    id {{id}},
    -- NULL: shared by every operator.
    client_id BIGINT REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,
    parser TEXT NOT NULL DEFAULT 'xmltv',
    -- An http(s) URL or a path on disk; `{date}` in a URL becomes YYYYMMDD.
    url TEXT NOT NULL,
    -- Zone of times written without one, when the EPG channel sets none:
    -- an IANA name (`Europe/Moscow`) or a fixed offset (`+03:00`); '' = UTC.
    time_zone TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    last_import_at BIGINT,
    last_checksum TEXT NOT NULL DEFAULT '',
    -- JSON summary of the last import, and its error ('' when it worked).
    last_result TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE epg_channel (
    id {{id}},
    source_id BIGINT NOT NULL REFERENCES epg_source (id) ON DELETE CASCADE,
    ext_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    -- {"lang": "name"} of every display-name.
    names TEXT NOT NULL DEFAULT '{}',
    icon_src TEXT NOT NULL DEFAULT '',
    -- Key of the stored icon set (`epg/<id>`), '' until downloaded.
    icon_key TEXT NOT NULL DEFAULT '',
    icon_sha256 TEXT NOT NULL DEFAULT '',
    -- Offset of times written without a zone, in minutes east of UTC;
    -- NULL: the source's zone.
    offset_minutes BIGINT,
    sort BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX epg_channel_source_idx ON epg_channel (source_id, ext_id);
CREATE INDEX channel_epg_channel_idx ON channel (epg_channel_id);

CREATE TABLE epg_category (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    -- {"lang": "name"}.
    names TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- A source's category names mapped to Efir's categories; rows with a NULL
-- target are names seen in imports and not mapped yet.
CREATE TABLE epg_source_category_map (
    id {{id}},
    source_id BIGINT NOT NULL REFERENCES epg_source (id) ON DELETE CASCADE,
    source_category TEXT NOT NULL,
    epg_category_id BIGINT REFERENCES epg_category (id) ON DELETE SET NULL,
    UNIQUE (source_id, source_category)
);

CREATE TABLE epg_programme (
    id {{id}},
    epg_channel_id BIGINT NOT NULL REFERENCES epg_channel (id) ON DELETE CASCADE,
    start_at BIGINT NOT NULL,
    stop_at BIGINT NOT NULL,
    title TEXT NOT NULL,
    sub_title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- Other languages: {"lang": {"title": …, "sub_title": …, "description": …}}.
    i18n TEXT NOT NULL DEFAULT '{}',
    -- First mapped category, and every mapped category name (JSON list).
    category_id BIGINT REFERENCES epg_category (id) ON DELETE SET NULL,
    genres TEXT NOT NULL DEFAULT '[]',
    -- Credits, countries, keywords, episode-num as written, length, star
    -- rating, source categories: JSON object.
    details TEXT NOT NULL DEFAULT '{}',
    year BIGINT,
    season BIGINT,
    episode BIGINT,
    icon TEXT NOT NULL DEFAULT '',
    rating TEXT NOT NULL DEFAULT '',
    premiere BOOLEAN NOT NULL DEFAULT FALSE,
    is_new BOOLEAN NOT NULL DEFAULT FALSE,
    -- Digest of every field above: a re-import compares digests.
    hash TEXT NOT NULL
);
CREATE UNIQUE INDEX epg_programme_channel_start_idx ON epg_programme (epg_channel_id, start_at);
CREATE INDEX epg_programme_channel_stop_idx ON epg_programme (epg_channel_id, stop_at);

CREATE TABLE epg_premiere (
    id {{id}},
    epg_programme_id BIGINT NOT NULL UNIQUE REFERENCES epg_programme (id) ON DELETE CASCADE,
    epg_channel_id BIGINT NOT NULL REFERENCES epg_channel (id) ON DELETE CASCADE,
    start_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX epg_premiere_start_idx ON epg_premiere (start_at);

-- The account's preferred time shift in hours (`settings/save/`
-- `preferred_timeshift_offset`): guide times are shown shifted by it.
ALTER TABLE account ADD COLUMN timeshift_offset BIGINT NOT NULL DEFAULT 0;
