//! The problem+json body (RFC 9457) every client error of a bank carries.

use serde::{Deserialize, Serialize};

/// `application/problem+json`: `type` is stable (`/problems/<slug>`), `detail` is for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    #[serde(default)]
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub instance: String,
}

impl Problem {
    /// The slug of `type`: `insufficient-funds` for `/problems/insufficient-funds`.
    pub fn slug(&self) -> &str {
        self.type_uri.strip_prefix("/problems/").unwrap_or(&self.type_uri)
    }
}
