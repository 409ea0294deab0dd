//! What a command reports: the artifacts under `target/` that orchestrators and tools read
//! ([`artifacts`]) and what it prints on stdout ([`render`]).

pub mod artifacts;
pub mod render;
