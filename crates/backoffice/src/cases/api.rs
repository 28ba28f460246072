//! Admin REST API of cases (mounted when the admin API lands).
