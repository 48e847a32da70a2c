//! The OpenAPI spec (JSON and YAML) and the docs page, rendered once per
//! config generation and then served as bytes.
//!
//! Rendering the docs page takes a few milliseconds and 1.7 MB; done per
//! request, four looping unauthenticated clients cut webhook throughput by
//! more than ten times. A reload makes a new generation, and the first
//! request after it renders again, so the pages never go stale.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use bytes::Bytes;

use super::openapi;
use crate::live::Snapshot;

/// One generation's pages.
#[derive(Debug)]
pub struct Rendered {
    generation: u64,
    /// `/openapi.json`.
    pub json: Bytes,
    /// `/openapi.yaml`.
    pub yaml: Bytes,
    /// `/docs`.
    pub docs: Bytes,
}

impl Rendered {
    fn of(snapshot: &Snapshot) -> Self {
        let document = openapi::document(&snapshot.config.routes);
        let json = serde_json::to_string_pretty(&document).expect("JSON values serialize");
        Self {
            generation: snapshot.generation,
            yaml: openapi::to_yaml(&document).into(),
            docs: openapi::docs_html(&json).into(),
            json: json.into(),
        }
    }
}

/// The pages of the latest generation asked for.
#[derive(Debug, Default)]
pub struct RenderedCache(ArcSwapOption<Rendered>);

impl RenderedCache {
    /// The pages of `snapshot`'s generation, rendered now if they are not yet.
    pub fn get(&self, snapshot: &Snapshot) -> Arc<Rendered> {
        let cached = self.0.load_full();
        match cached {
            Some(rendered) if rendered.generation == snapshot.generation => rendered,
            // Two workers may both render a new generation once: harmless.
            _ => {
                let rendered = Arc::new(Rendered::of(snapshot));
                self.0.store(Some(rendered.clone()));
                rendered
            }
        }
    }
}
