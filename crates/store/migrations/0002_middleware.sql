-- Efir 0002: the subscriber middleware. Customers and their accounts,
-- sessions and devices; content (channels, radio, cameras, apps, VOD);
-- tariffs and what they open; stream services and data centers; messages,
-- transactions and geolocation.
--
-- Conventions: times are Unix seconds (BIGINT); money is fixed-point with
-- four decimals in BIGINT columns (`balance` 1234500 = 123.45); localised
-- names have `_lang1` … `_lang5` columns matching the operator's additional
-- languages; lists of small values (subnets, device groups) are
-- comma-separated TEXT.

CREATE TABLE data_center (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX data_center_client_idx ON data_center (client_id);

CREATE TABLE country (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

CREATE TABLE city (
    id {{id}},
    country_id BIGINT NOT NULL REFERENCES country (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (country_id, name)
);

-- IP ranges as 16-byte big-endian addresses (IPv4 mapped into ::ffff:0:0/96)
-- so that one byte-wise comparison works for both families.
CREATE TABLE geo_ip_range (
    id {{id}},
    ip_from {{bytes}} NOT NULL,
    ip_to {{bytes}} NOT NULL,
    country_id BIGINT REFERENCES country (id) ON DELETE CASCADE,
    city_id BIGINT REFERENCES city (id) ON DELETE CASCADE
);
CREATE INDEX geo_ip_range_from_idx ON geo_ip_range (ip_from);

CREATE TABLE customer (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    ext_id TEXT,
    firstname TEXT NOT NULL DEFAULT '',
    lastname TEXT NOT NULL DEFAULT '',
    middlename TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    mobile_phone_number TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    contract_number TEXT NOT NULL DEFAULT '',
    id_for_payment TEXT NOT NULL DEFAULT '',
    balance BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    autopayment_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (client_id, ext_id)
);
CREATE INDEX customer_client_idx ON customer (client_id);

CREATE TABLE account (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    abonement TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    status_reason TEXT NOT NULL DEFAULT 'ACTIVE',
    activation_date BIGINT,
    deactivation_date BIGINT,
    extension_date BIGINT,
    auto_activation_period BIGINT,
    first_login_at BIGINT,
    allow_multiple_login BOOLEAN NOT NULL DEFAULT TRUE,
    allow_login_by_abonement BOOLEAN NOT NULL DEFAULT FALSE,
    allow_login_by_device_uid BOOLEAN NOT NULL DEFAULT FALSE,
    allow_login_by_ip BOOLEAN NOT NULL DEFAULT FALSE,
    subnets TEXT NOT NULL DEFAULT '',
    allowed_device_groups TEXT NOT NULL DEFAULT '',
    parent_code TEXT NOT NULL DEFAULT '0000',
    data_center_id BIGINT REFERENCES data_center (id) ON DELETE SET NULL,
    use_timeshift BOOLEAN NOT NULL DEFAULT FALSE,
    template TEXT NOT NULL DEFAULT '',
    last_channel_id BIGINT,
    channel_list_changed_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (client_id, abonement)
);
CREATE INDEX account_customer_idx ON account (customer_id);

CREATE TABLE play_device (
    id {{id}},
    system_name TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- 0 STB, 1 SmartTV, 2 Mobile, 3 Other
    device_group BIGINT NOT NULL DEFAULT 3,
    -- json or xml
    output_format TEXT NOT NULL DEFAULT 'json'
);

CREATE TABLE account_authkey (
    id {{id}},
    account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    authkey TEXT NOT NULL UNIQUE,
    device_uid TEXT NOT NULL DEFAULT '',
    play_device_id BIGINT REFERENCES play_device (id) ON DELETE SET NULL,
    ip TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- when this session last fetched the channel list
    channel_list_loaded_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX account_authkey_account_idx ON account_authkey (account_id);

CREATE TABLE account_device (
    id {{id}},
    account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    device_uid TEXT NOT NULL,
    play_device_id BIGINT REFERENCES play_device (id) ON DELETE SET NULL,
    device_serial TEXT NOT NULL DEFAULT '',
    device_model TEXT NOT NULL DEFAULT '',
    is_basic BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (account_id, device_uid)
);
CREATE INDEX account_device_uid_idx ON account_device (device_uid);

CREATE TABLE category (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    description TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '',
    icon_url TEXT NOT NULL DEFAULT '',
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX category_client_idx ON category (client_id);

CREATE TABLE channel (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    category_id BIGINT REFERENCES category (id) ON DELETE SET NULL,
    epg_channel_id BIGINT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    parent_control BOOLEAN NOT NULL DEFAULT FALSE,
    uri TEXT NOT NULL DEFAULT '',
    url_prefix TEXT NOT NULL DEFAULT '',
    multicast_address TEXT NOT NULL DEFAULT '',
    id_for_stream_service TEXT NOT NULL DEFAULT '',
    recording_days BIGINT NOT NULL DEFAULT 0,
    icon TEXT NOT NULL DEFAULT '',
    sort BIGINT NOT NULL DEFAULT 0,
    lcn_number BIGINT NOT NULL DEFAULT 0,
    aspect_ratio BIGINT NOT NULL DEFAULT 0,
    show_in_all BOOLEAN NOT NULL DEFAULT TRUE,
    option1 TEXT NOT NULL DEFAULT '',
    option2 TEXT NOT NULL DEFAULT '',
    option3 TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX channel_client_idx ON channel (client_id, sort);

CREATE TABLE account_channel (
    account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
    is_favorited BOOLEAN NOT NULL DEFAULT FALSE,
    is_hidden BOOLEAN NOT NULL DEFAULT FALSE,
    is_parent_locked BOOLEAN NOT NULL DEFAULT FALSE,
    sort BIGINT,
    PRIMARY KEY (account_id, channel_id)
);

CREATE TABLE radio (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    url TEXT NOT NULL DEFAULT '',
    logo_url TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX radio_client_idx ON radio (client_id);

CREATE TABLE camera (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    category_id BIGINT REFERENCES category (id) ON DELETE SET NULL,
    city_id BIGINT REFERENCES city (id) ON DELETE SET NULL,
    url TEXT NOT NULL DEFAULT '',
    icon TEXT NOT NULL DEFAULT '',
    preview_url TEXT NOT NULL DEFAULT '',
    recording_days BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX camera_client_idx ON camera (client_id);

CREATE TABLE application (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    system_name TEXT NOT NULL DEFAULT '',
    app_type TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    show_in_main_menu BOOLEAN NOT NULL DEFAULT TRUE,
    css_style TEXT NOT NULL DEFAULT '',
    icon TEXT NOT NULL DEFAULT '',
    icon_focus TEXT NOT NULL DEFAULT '',
    attrs TEXT NOT NULL DEFAULT '{}',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX application_client_idx ON application (client_id);

CREATE TABLE genre (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    is_category BOOLEAN NOT NULL DEFAULT FALSE,
    sort BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX genre_client_idx ON genre (client_id);

CREATE TABLE actor (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_orig TEXT NOT NULL DEFAULT '',
    photo TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actor_client_idx ON actor (client_id);

CREATE TABLE video (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    ext_id TEXT,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    name_orig TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    description_lang1 TEXT, description_lang2 TEXT, description_lang3 TEXT,
    description_lang4 TEXT, description_lang5 TEXT,
    short_description TEXT NOT NULL DEFAULT '',
    year BIGINT,
    countries TEXT NOT NULL DEFAULT '',
    director TEXT NOT NULL DEFAULT '',
    thumbnail_small TEXT NOT NULL DEFAULT '',
    thumbnail_big TEXT NOT NULL DEFAULT '',
    horizontal_poster TEXT NOT NULL DEFAULT '',
    rating TEXT NOT NULL DEFAULT '',
    kinopoisk_id TEXT NOT NULL DEFAULT '',
    kinopoisk_rating TEXT NOT NULL DEFAULT '',
    imdb_rating TEXT NOT NULL DEFAULT '',
    duration BIGINT NOT NULL DEFAULT 0,
    is_season BOOLEAN NOT NULL DEFAULT FALSE,
    is_4k BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (client_id, ext_id)
);
CREATE INDEX video_client_idx ON video (client_id, created_at);

CREATE TABLE video_genre (
    video_id BIGINT NOT NULL REFERENCES video (id) ON DELETE CASCADE,
    genre_id BIGINT NOT NULL REFERENCES genre (id) ON DELETE CASCADE,
    PRIMARY KEY (video_id, genre_id)
);

CREATE TABLE video_actor (
    video_id BIGINT NOT NULL REFERENCES video (id) ON DELETE CASCADE,
    actor_id BIGINT NOT NULL REFERENCES actor (id) ON DELETE CASCADE,
    PRIMARY KEY (video_id, actor_id)
);

CREATE TABLE season (
    id {{id}},
    video_id BIGINT NOT NULL REFERENCES video (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    number BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX season_video_idx ON season (video_id);

CREATE TABLE episode (
    id {{id}},
    season_id BIGINT NOT NULL REFERENCES season (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    number BIGINT NOT NULL DEFAULT 1,
    duration BIGINT NOT NULL DEFAULT 0,
    preview_url TEXT NOT NULL DEFAULT '',
    is_free BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX episode_season_idx ON episode (season_id);

CREATE TABLE video_file (
    id {{id}},
    video_id BIGINT NOT NULL REFERENCES video (id) ON DELETE CASCADE,
    episode_id BIGINT REFERENCES episode (id) ON DELETE CASCADE,
    ext_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    filename TEXT NOT NULL,
    duration BIGINT NOT NULL DEFAULT 0,
    quality TEXT NOT NULL DEFAULT '',
    is_trailer BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX video_file_video_idx ON video_file (video_id);

CREATE TABLE tariff (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    ext_id TEXT,
    name TEXT NOT NULL,
    name_lang1 TEXT, name_lang2 TEXT, name_lang3 TEXT, name_lang4 TEXT, name_lang5 TEXT,
    description TEXT NOT NULL DEFAULT '',
    -- months of a charging period; 0 = system tariff, never charged
    period BIGINT NOT NULL DEFAULT 1,
    price BIGINT NOT NULL DEFAULT 0,
    activation_price BIGINT NOT NULL DEFAULT 0,
    -- 0 = additional; 1..10 = basic, higher wins
    basic_tariff_priority BIGINT NOT NULL DEFAULT 0,
    assigned_by_default BOOLEAN NOT NULL DEFAULT FALSE,
    available_for_inactive_accounts BOOLEAN NOT NULL DEFAULT FALSE,
    sessions_count BIGINT NOT NULL DEFAULT 1,
    available_everywhere BOOLEAN NOT NULL DEFAULT TRUE,
    available_to_unsubscribe BOOLEAN NOT NULL DEFAULT TRUE,
    icon TEXT NOT NULL DEFAULT '',
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (client_id, ext_id)
);
CREATE INDEX tariff_client_idx ON tariff (client_id);

CREATE TABLE tariff_channel (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channel (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, channel_id)
);
CREATE INDEX tariff_channel_channel_idx ON tariff_channel (channel_id);

CREATE TABLE tariff_radio (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    radio_id BIGINT NOT NULL REFERENCES radio (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, radio_id)
);

CREATE TABLE tariff_camera (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    camera_id BIGINT NOT NULL REFERENCES camera (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, camera_id)
);

CREATE TABLE tariff_video (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    video_id BIGINT NOT NULL REFERENCES video (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, video_id)
);

CREATE TABLE tariff_application (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    application_id BIGINT NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, application_id)
);

CREATE TABLE tariff_country (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    country_id BIGINT NOT NULL REFERENCES country (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, country_id)
);

CREATE TABLE tariff_city (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    city_id BIGINT NOT NULL REFERENCES city (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, city_id)
);

CREATE TABLE customer_tariff (
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, tariff_id)
);
CREATE INDEX customer_tariff_tariff_idx ON customer_tariff (tariff_id);

CREATE TABLE stream_service (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- live, pvr or vod
    service_type TEXT NOT NULL,
    url_mask TEXT NOT NULL,
    -- nginx secure_link: the secret and the expression the edge checks
    -- ($secure_link_expires, $uri, $remote_addr and $secret are replaced)
    secure_link_secret TEXT NOT NULL DEFAULT '',
    secure_link_expression TEXT NOT NULL DEFAULT '$secure_link_expires$uri $secret',
    secure_link_ttl BIGINT NOT NULL DEFAULT 3600,
    data_center_id BIGINT REFERENCES data_center (id) ON DELETE SET NULL,
    weight BIGINT NOT NULL DEFAULT 1,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    check_url TEXT NOT NULL DEFAULT '',
    -- unknown, up or down
    health TEXT NOT NULL DEFAULT 'unknown',
    health_checked_at BIGINT,
    health_error TEXT NOT NULL DEFAULT '',
    load BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX stream_service_client_idx ON stream_service (client_id, service_type);

CREATE TABLE tariff_stream_service (
    tariff_id BIGINT NOT NULL REFERENCES tariff (id) ON DELETE CASCADE,
    stream_service_id BIGINT NOT NULL REFERENCES stream_service (id) ON DELETE CASCADE,
    PRIMARY KEY (tariff_id, stream_service_id)
);

CREATE TABLE maintenance (
    id {{id}},
    stream_service_id BIGINT NOT NULL REFERENCES stream_service (id) ON DELETE CASCADE,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX maintenance_service_idx ON maintenance (stream_service_id, ends_at);

CREATE TABLE message (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customer (id) ON DELETE CASCADE,
    account_id BIGINT REFERENCES account (id) ON DELETE CASCADE,
    uuid TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    urgent BOOLEAN NOT NULL DEFAULT FALSE,
    no_confirmation BOOLEAN NOT NULL DEFAULT FALSE,
    was_read BOOLEAN NOT NULL DEFAULT FALSE,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX message_account_idx ON message (account_id, created_at);
CREATE INDEX message_customer_idx ON message (customer_id, created_at);

CREATE TABLE customer_transaction (
    id {{id}},
    client_id BIGINT NOT NULL REFERENCES client (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    ext_id TEXT,
    amount BIGINT NOT NULL,
    processed BOOLEAN NOT NULL DEFAULT TRUE,
    -- 0 payment/charge, 1 film
    transaction_type BIGINT NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, ext_id)
);
CREATE INDEX customer_transaction_customer_idx ON customer_transaction (customer_id, created_at);

INSERT INTO play_device (system_name, name, device_group, output_format) VALUES
    ('android', 'Android', 2, 'json'),
    ('android_stb', 'Android STB', 0, 'json'),
    ('dune', 'Dune HD', 0, 'xml'),
    ('eltex', 'Eltex', 0, 'xml'),
    ('tvip', 'TVIP', 0, 'json'),
    ('lg_netcast', 'LG NetCast', 1, 'json'),
    ('lg_webos', 'LG webOS', 1, 'json'),
    ('mag', 'Infomir MAG', 0, 'xml'),
    ('pc', 'PC', 3, 'json'),
    ('sagemcom', 'Sagemcom', 0, 'xml'),
    ('samsung_smart_tv', 'Samsung Smart TV', 1, 'json'),
    ('tizen_tv', 'Samsung Tizen', 1, 'json'),
    ('ios', 'iOS', 2, 'json'),
    ('wrt', 'WRT', 0, 'xml'),
    ('amino', 'Amino', 0, 'xml'),
    ('imaqliq', 'Imaqliq', 0, 'xml'),
    ('kodi', 'Kodi', 3, 'json'),
    ('vewd', 'Vewd', 1, 'json'),
    ('tbrowser', 'TBrowser', 1, 'json');
