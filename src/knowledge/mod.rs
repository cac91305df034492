//! Brand product knowledge in Postgres: import, the run of show, retrieval.
//!
//! Every product becomes a set of retrievable entries: its FAQ answers, and
//! entries made from its fields (price, stock, each attribute). Every change
//! is a new knowledge version: entries are closed at a version, never
//! rewritten, and every read of entries takes those live at one version.
//! Chinese is segmented with jieba on write (`cut_for_search`) and on query
//! (`cut`); the words go through Postgres full-text search (`simple`
//! configuration), the sentence vectors through an in-memory index.
//!
//! - `catalog`: the import/export shape of a brand's knowledge; `tabular`: its CSV form.
//! - `entries`: what an entry is, and how a product becomes entries.
//! - `store`: versioned edits (pure validation, the transaction) and every read of products and entries.
//! - `vectors`: the in-memory sentence vectors: f32, int8, the sign-bit prefilter.
//! - `retrieval`: full text, vector search and their fusion at a pinned version.
//! - `text`: jieba terms for indexing and querying.

pub mod catalog;
pub mod entries;
pub mod retrieval;
pub mod store;
pub mod tabular;
pub mod text;
pub mod vectors;

pub use catalog::Catalog;
pub(crate) use entries::entries_of;
pub use retrieval::{BrandIndex, Mode, Retriever};
pub use store::{ImportedVersion, brand_exists, entry_keys, import_catalog, run_of_show};
pub use vectors::VectorIndex;
