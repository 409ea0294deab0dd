//! DataFusion functions (UDFs and UDAFs) callable from every SQL model.
//!
//! This module is the single entry point the rest of the crate uses: it
//! gathers every scalar function ([`scalar_udfs`]) and every aggregate
//! function ([`aggregate_udfs`]) so that the session builder can register
//! them in one go. The plain Rust functions behind each UDF are re-exported
//! here so that other code (exports, tests) can apply exactly the same rules
//! outside SQL.
//!
//! What each function computes, its arguments and an example are documented once, in
//! [`docs::FUNCTIONS`], from which the README and `parcours functions` are generated.

mod comparisons;
mod components;
pub mod docs;
mod email;
mod fellegi_sunter;
mod hash;
pub mod literals;
mod logistic;
mod markov;
mod name;
mod phone;
mod phonetic;
mod shapley;
mod similarity;
mod strings;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use comparisons::{damerau_levenshtein, date_level};
pub use components::{ConnectedComponents, UnionFind, connected_components};
pub use email::{correct_email_domain, meta_email, normalize_email};
pub use fellegi_sunter::{FellegiSunterEm, FsParameters, LevelParameters};
pub use hash::sha256_hex;
pub use logistic::{ChannelEffect, LogisticFit, LogisticTouchEffects, logistic_touch_effects};
pub use markov::{MarkovRemovalEffects, removal_effects, value_removal_effects};
pub use name::normalize_name;
pub use phone::{meta_phone, normalize_phone};
pub use phonetic::{phonetic_key, soundex};
pub use shapley::{ShapleyChannelWeights, ShapleyVariant, shapley_weights, shapley_weights_with};
pub use similarity::{jaro, jaro_winkler};

/// Every scalar function parcours adds to the SQL dialect.
pub fn scalar_udfs() -> Vec<ScalarUDF> {
    use strings::StringUdf;
    vec![
        ScalarUDF::from(StringUdf::unary("normalize_email", normalize_email)),
        ScalarUDF::from(StringUdf::unary("meta_email", meta_email)),
        ScalarUDF::from(StringUdf::unary(
            "correct_email_domain",
            correct_email_domain,
        )),
        ScalarUDF::from(StringUdf::with_optional_arg(
            "normalize_phone",
            normalize_phone_opt,
        )),
        ScalarUDF::from(StringUdf::unary("meta_phone", meta_phone)),
        ScalarUDF::from(StringUdf::unary("sha256_hex", sha256_hex_opt)),
        ScalarUDF::from(StringUdf::unary("normalize_name", normalize_name)),
        ScalarUDF::from(StringUdf::unary("phonetic_key", phonetic_key)),
        ScalarUDF::from(similarity::JaroWinklerUdf::new()),
        ScalarUDF::from(fellegi_sunter::FellegiSunterScore::new()),
        ScalarUDF::from(comparisons::ComparisonUdf::damerau_levenshtein()),
        ScalarUDF::from(comparisons::ComparisonUdf::date_comparison_level()),
    ]
}

/// Every aggregate function parcours adds to the SQL dialect.
pub fn aggregate_udfs() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(ConnectedComponents::new()),
        AggregateUDF::from(MarkovRemovalEffects::new()),
        AggregateUDF::from(ShapleyChannelWeights::new()),
        AggregateUDF::from(LogisticTouchEffects::new()),
        AggregateUDF::from(FellegiSunterEm::new()),
    ]
}

// The SQL wrappers need `fn(&str, …) -> Option<String>`; these adapters keep
// the public Rust signatures natural.
fn normalize_phone_opt(phone: &str, country: Option<&str>) -> Option<String> {
    normalize_phone(phone, country.unwrap_or(""))
}

fn sha256_hex_opt(text: &str) -> Option<String> {
    Some(sha256_hex(text))
}
