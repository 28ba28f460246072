//! Content: channels, categories, radio, cameras, apps and VOD (videos, seasons, episodes, files, genres, actors), with forms built from the Content API's own description and localised names side by side.

use axum::Router;

use super::{Chart, NavItem};
use crate::render::PageResult;
use crate::session::User;
use crate::Panel;

/// Interface strings of these pages: `(key, English, Russian)`.
pub static STRINGS: &[(&str, &str, &str)] = &[];

/// Templates of these pages: `(name, source)`.
pub const TEMPLATES: &[(&str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<Panel> {
    Router::new()
}

/// Menu entries for `user`.
pub fn nav_items(_user: &User) -> Vec<NavItem> {
    Vec::new()
}

/// Charts these pages add to the dashboard (operator `scope`, `None` =
/// all).
pub async fn charts(_panel: &Panel, _user: &User, _scope: Option<i64>) -> PageResult<Vec<Chart>> {
    Ok(Vec::new())
}
