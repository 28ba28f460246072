//! Watched directories ("hot folders") whose stable files become jobs.
