//! parcours: a batch ETL runner for marketing data warehouses.
//!
//! The modules read like the architecture: `config` parses `pipelines.yaml`, `project` opens a
//! project for one command, `graph` finds the SQL models and orders them, `template` resolves
//! placeholders, `storage` turns storage URLs into object stores, `session` builds the one
//! DataFusion session, `catalog` registers sources and published tables, `run` executes models
//! (with `run::lease` keeping one run at a time writing a warehouse and `run::datatest` checking
//! each table), `publish` makes tables visible atomically, `report` writes the artifacts and what
//! commands print, `functions` holds the UDFs, `generator` writes realistic raw exports and
//! `eval` scores outputs against their truth. `lineage` traces every column to the upstream
//! columns it comes from (and `lineage::pii` follows personal data through it); `unit_test`
//! runs models on hand-made rows in memory. `cluster` runs the same queries on an Apache
//! DataFusion Ballista cluster, and its scheduler and executor processes.

pub mod catalog;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod error;
pub mod eval;
pub mod functions;
pub mod generator;
pub mod graph;
pub mod lineage;
pub mod progress;
pub mod project;
pub mod publish;
pub mod report;
pub mod run;
pub mod session;
pub mod site;
pub mod storage;
pub mod template;
pub mod unit_test;

pub use error::{Error, Result};
