//! The Content API's objects: which table each lives in, which parameters
//! it takes and how they are checked.

/// How a parameter is parsed, checked and stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Text, at most this many characters; stored as given (empty allowed).
    Text(usize),
    /// Optional text (a nullable column): empty means `NULL`.
    OptText(usize),
    /// A stream or web address (`http(s)://`, `udp://`, `rtp://`,
    /// `rtsp://`), or empty.
    Url,
    /// A whole number in `min..=max`; `nullable` lets an empty value clear
    /// it.
    Int { min: i64, max: i64, nullable: bool },
    /// A 0/1 flag.
    Bool,
    /// The id of another object that must belong to the same operator;
    /// `nullable` lets an empty value clear it.
    Ref {
        entity: &'static Entity,
        nullable: bool,
    },
    /// A JSON object as text.
    Json,
}

/// One parameter of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The parameter (and output) name.
    pub param: &'static str,
    /// Other accepted parameter names.
    pub aliases: &'static [&'static str],
    /// The column.
    pub column: &'static str,
    /// How it is checked.
    pub kind: Kind,
    /// Whether create requires it (and modify may not empty it).
    pub required: bool,
}

/// How an object's rows are tied to their operator.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// The table has `client_id`.
    Direct,
    /// Through another table: a condition on alias `t` where `{c}` stands
    /// for the operator's id.
    Via(&'static str),
    /// Shared by every operator (read only).
    Global,
}

/// A many-to-many link to other objects, set with a repeatable parameter.
#[derive(Debug)]
pub(crate) struct Link {
    /// The repeatable parameter (`tariff_id`); on modify it replaces the set.
    pub param: &'static str,
    /// The flag parameter that empties the set (`clear_tariffs`).
    pub clear: &'static str,
    /// The output key of the linked ids (`tariffs`).
    pub output: &'static str,
    /// The link table.
    pub table: &'static str,
    /// Its column naming this object.
    pub item: &'static str,
    /// Its column naming the linked object.
    pub other: &'static str,
    /// The linked kind (it must belong to the same operator).
    pub target: &'static Entity,
}

/// Every link parameter, so that one sent to a kind without it is an error.
pub(crate) const LINK_PARAMS: [&str; 3] = ["tariff_id", "genre_id", "actor_id"];

const fn tariffs(table: &'static str, item: &'static str) -> Link {
    Link {
        param: "tariff_id",
        clear: "clear_tariffs",
        output: "tariffs",
        table,
        item,
        other: "tariff_id",
        target: &TARIFF,
    }
}

/// An object kind of the Content API.
#[derive(Debug)]
pub(crate) struct Entity {
    /// Singular name in answers and messages (`channel`).
    pub name: &'static str,
    /// The list key (`channels`).
    pub plural: &'static str,
    /// The table.
    pub table: &'static str,
    /// Owner scoping.
    pub scope: Scope,
    /// The parameters.
    pub fields: &'static [Field],
    /// Sets of other objects linked to this one (tariffs, genres, actors).
    pub links: &'static [Link],
    /// Parameters `list` filters by (whole numbers, equality).
    pub filters: &'static [&'static str],
    /// `ORDER BY` of `list` (on alias `t`).
    pub order: &'static str,
    /// Whether the table has `created_at`.
    pub created_at: bool,
    /// Whether the table has `updated_at`.
    pub updated_at: bool,
    /// Whether a change may alter the channel lists of accounts.
    pub touches_channels: bool,
    /// The parameter whose unique constraint may be violated, if any.
    pub unique: Option<&'static str>,
}

const NAME_MAX: usize = 255;
const TEXT_MAX: usize = 1000;
const LONG_MAX: usize = 20_000;

const fn f(param: &'static str, column: &'static str, kind: Kind) -> Field {
    Field {
        param,
        aliases: &[],
        column,
        kind,
        required: false,
    }
}

const fn text(name: &'static str, max: usize) -> Field {
    f(name, name, Kind::Text(max))
}

const fn url(name: &'static str) -> Field {
    f(name, name, Kind::Url)
}

const fn flag(name: &'static str) -> Field {
    f(name, name, Kind::Bool)
}

const fn int(name: &'static str, min: i64, max: i64) -> Field {
    f(
        name,
        name,
        Kind::Int {
            min,
            max,
            nullable: false,
        },
    )
}

const fn required(mut field: Field) -> Field {
    field.required = true;
    field
}

const fn reference(name: &'static str, entity: &'static Entity, nullable: bool) -> Field {
    f(name, name, Kind::Ref { entity, nullable })
}

const fn alias(mut field: Field, aliases: &'static [&'static str]) -> Field {
    field.aliases = aliases;
    field
}

macro_rules! langs {
    ($base:literal, $max:expr) => {
        [
            f(
                concat!($base, "_lang1"),
                concat!($base, "_lang1"),
                Kind::OptText($max),
            ),
            f(
                concat!($base, "_lang2"),
                concat!($base, "_lang2"),
                Kind::OptText($max),
            ),
            f(
                concat!($base, "_lang3"),
                concat!($base, "_lang3"),
                Kind::OptText($max),
            ),
            f(
                concat!($base, "_lang4"),
                concat!($base, "_lang4"),
                Kind::OptText($max),
            ),
            f(
                concat!($base, "_lang5"),
                concat!($base, "_lang5"),
                Kind::OptText($max),
            ),
        ]
    };
}

const SORT: Field = int("sort", -1_000_000_000, 1_000_000_000);
const NAME: Field = required(text("name", NAME_MAX));
const RECORDING_DAYS: Field = int("recording_days", 0, 365);

/// Tariffs (managed by the Billing API; only linked to here).
pub(crate) static TARIFF: Entity = Entity {
    name: "tariff",
    plural: "tariffs",
    table: "tariff",
    scope: Scope::Direct,
    fields: &[],
    links: &[],
    filters: &[],
    order: "t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Cities (shared; only referenced by cameras).
pub(crate) static CITY: Entity = Entity {
    name: "city",
    plural: "cities",
    table: "city",
    scope: Scope::Global,
    fields: &[],
    links: &[],
    filters: &[],
    order: "t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Channel categories.
pub(crate) static CATEGORY: Entity = Entity {
    name: "category",
    plural: "categories",
    table: "category",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            text("description", LONG_MAX),
            text("color", 32),
            url("icon_url"),
            SORT,
        ]
    },
    links: &[],
    filters: &[],
    order: "t.sort, t.id",
    created_at: true,
    updated_at: false,
    touches_channels: true,
    unique: None,
};

/// TV channels.
pub(crate) static CHANNEL: Entity = Entity {
    name: "channel",
    plural: "channels",
    table: "channel",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            alias(reference("category_id", &CATEGORY, true), &["category"]),
            alias(
                f(
                    "epg_channel_id",
                    "epg_channel_id",
                    Kind::Int {
                        min: 0,
                        max: i64::MAX,
                        nullable: true,
                    },
                ),
                &["epg_channel"],
            ),
            flag("enabled"),
            flag("parent_control"),
            url("uri"),
            url("url_prefix"),
            text("multicast_address", NAME_MAX),
            text("id_for_stream_service", NAME_MAX),
            RECORDING_DAYS,
            text("icon", TEXT_MAX),
            SORT,
            int("lcn_number", 0, 1_000_000),
            int("aspect_ratio", 0, 3),
            flag("show_in_all"),
            text("option1", TEXT_MAX),
            text("option2", TEXT_MAX),
            text("option3", TEXT_MAX),
        ]
    },
    links: &[tariffs("tariff_channel", "channel_id")],
    filters: &["category_id"],
    order: "t.sort, t.id",
    created_at: true,
    updated_at: true,
    touches_channels: true,
    unique: None,
};

/// Radio stations.
pub(crate) static RADIO: Entity = Entity {
    name: "radio",
    plural: "radio",
    table: "radio",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            url("url"),
            url("logo_url"),
            text("description", LONG_MAX),
            flag("enabled"),
            SORT,
        ]
    },
    links: &[tariffs("tariff_radio", "radio_id")],
    filters: &[],
    order: "t.sort, t.id",
    created_at: true,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Surveillance cameras.
pub(crate) static CAMERA: Entity = Entity {
    name: "camera",
    plural: "cameras",
    table: "camera",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            reference("category_id", &CATEGORY, true),
            reference("city_id", &CITY, true),
            url("url"),
            text("icon", TEXT_MAX),
            url("preview_url"),
            RECORDING_DAYS,
            flag("enabled"),
            SORT,
        ]
    },
    links: &[tariffs("tariff_camera", "camera_id")],
    filters: &["category_id", "city_id"],
    order: "t.sort, t.id",
    created_at: true,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Applications shown on the devices.
pub(crate) static APPLICATION: Entity = Entity {
    name: "application",
    plural: "applications",
    table: "application",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            text("system_name", NAME_MAX),
            alias(f("type", "app_type", Kind::Text(64)), &["app_type"]),
            url("url"),
            flag("show_in_main_menu"),
            text("css_style", TEXT_MAX),
            text("icon", TEXT_MAX),
            text("icon_focus", TEXT_MAX),
            f("attrs", "attrs", Kind::Json),
            flag("enabled"),
            SORT,
        ]
    },
    links: &[tariffs("tariff_application", "application_id")],
    filters: &[],
    order: "t.sort, t.id",
    created_at: true,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// VOD genres.
pub(crate) static GENRE: Entity = Entity {
    name: "genre",
    plural: "genres",
    table: "genre",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        [
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            flag("is_category"),
            SORT,
        ]
    },
    links: &[],
    filters: &[],
    order: "t.sort, t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// VOD actors.
pub(crate) static ACTOR: Entity = Entity {
    name: "actor",
    plural: "actors",
    table: "actor",
    scope: Scope::Direct,
    fields: &[NAME, text("name_orig", NAME_MAX), url("photo")],
    links: &[],
    filters: &[],
    order: "t.name, t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// VOD titles (films and series).
pub(crate) static VIDEO: Entity = Entity {
    name: "video",
    plural: "videos",
    table: "video",
    scope: Scope::Direct,
    fields: &{
        let l = langs!("name", NAME_MAX);
        let d = langs!("description", LONG_MAX);
        [
            f("ext_id", "ext_id", Kind::OptText(NAME_MAX)),
            NAME,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            text("name_orig", NAME_MAX),
            text("description", LONG_MAX),
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
            text("short_description", TEXT_MAX),
            f(
                "year",
                "year",
                Kind::Int {
                    min: 1800,
                    max: 3000,
                    nullable: true,
                },
            ),
            text("countries", TEXT_MAX),
            text("director", TEXT_MAX),
            url("thumbnail_small"),
            url("thumbnail_big"),
            url("horizontal_poster"),
            text("rating", 32),
            text("kinopoisk_id", 64),
            text("kinopoisk_rating", 32),
            text("imdb_rating", 32),
            int("duration", 0, 1_000_000),
            flag("is_season"),
            flag("is_4k"),
            flag("enabled"),
        ]
    },
    links: &[
        tariffs("tariff_video", "video_id"),
        Link {
            param: "genre_id",
            clear: "clear_genres",
            output: "genres",
            table: "video_genre",
            item: "video_id",
            other: "genre_id",
            target: &GENRE,
        },
        Link {
            param: "actor_id",
            clear: "clear_actors",
            output: "actors",
            table: "video_actor",
            item: "video_id",
            other: "actor_id",
            target: &ACTOR,
        },
    ],
    filters: &[],
    order: "t.id",
    created_at: true,
    updated_at: true,
    touches_channels: false,
    unique: Some("ext_id"),
};

/// Seasons of a series.
pub(crate) static SEASON: Entity = Entity {
    name: "season",
    plural: "seasons",
    table: "season",
    scope: Scope::Via("t.video_id IN (SELECT v.id FROM video v WHERE v.client_id = {c})"),
    fields: &[
        required(reference("video_id", &VIDEO, false)),
        text("name", NAME_MAX),
        int("number", 0, 100_000),
    ],
    links: &[],
    filters: &["video_id"],
    order: "t.number, t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Episodes of a season.
pub(crate) static EPISODE: Entity = Entity {
    name: "episode",
    plural: "episodes",
    table: "episode",
    scope: Scope::Via(
        "t.season_id IN (SELECT s.id FROM season s JOIN video v ON v.id = s.video_id \
         WHERE v.client_id = {c})",
    ),
    fields: &[
        required(reference("season_id", &SEASON, false)),
        text("name", NAME_MAX),
        int("number", 0, 100_000),
        int("duration", 0, 1_000_000),
        url("preview_url"),
        flag("is_free"),
    ],
    links: &[],
    filters: &["season_id"],
    order: "t.number, t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// Files of a video (or of one of its episodes).
pub(crate) static FILE: Entity = Entity {
    name: "file",
    plural: "files",
    table: "video_file",
    scope: Scope::Via("t.video_id IN (SELECT v.id FROM video v WHERE v.client_id = {c})"),
    fields: &[
        required(reference("video_id", &VIDEO, false)),
        reference("episode_id", &EPISODE, true),
        text("ext_id", NAME_MAX),
        text("name", NAME_MAX),
        required(text("filename", TEXT_MAX)),
        int("duration", 0, 1_000_000),
        text("quality", 64),
        flag("is_trailer"),
    ],
    links: &[],
    filters: &["video_id", "episode_id"],
    order: "t.id",
    created_at: false,
    updated_at: false,
    touches_channels: false,
    unique: None,
};

/// The object kind named by a method's path (`video/file` → files).
pub(crate) fn by_path(path: &str) -> Option<&'static Entity> {
    Some(match path {
        "channel" => &CHANNEL,
        "category" => &CATEGORY,
        "radio" => &RADIO,
        "camera" => &CAMERA,
        "application" => &APPLICATION,
        "genre" => &GENRE,
        "actor" => &ACTOR,
        "video" => &VIDEO,
        "season" | "video/season" => &SEASON,
        "episode" | "video/episode" => &EPISODE,
        "file" | "video/file" => &FILE,
        _ => return None,
    })
}

/// Every kind's method path, in menu order.
pub(crate) const PATHS: [&str; 11] = [
    "channel",
    "category",
    "radio",
    "camera",
    "application",
    "video",
    "video/season",
    "video/episode",
    "video/file",
    "genre",
    "actor",
];
