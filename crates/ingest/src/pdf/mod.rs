//! PDF pre-press analysis (`pdf-inspect`) and page previews (`pdf-preview`).
