//! DataFusion functions (UDFs and UDAFs) callable from every SQL model.
//!
//! This module is the single entry point the rest of the crate uses: it
//! gathers every scalar function ([`scalar_udfs`]) and every aggregate
//! function ([`aggregate_udfs`]) so that the session builder can register
//! them in one go. The plain Rust functions behind each UDF are re-exported
//! here so that other code (exports, tests) can apply exactly the same rules
//! outside SQL.
//!
//! | SQL function | Rust function | Returns |
//! |---|---|---|
//! | `normalize_email(email)` | [`normalize_email`] | Utf8 |
//! | `meta_email(email)` | [`meta_email`] | Utf8 |
//! | `correct_email_domain(email)` | [`correct_email_domain`] | Utf8 (NULL: nothing to correct) |
//! | `normalize_phone(phone, default_country)` | [`normalize_phone`] | Utf8 (E.164) |
//! | `meta_phone(e164)` | [`meta_phone`] | Utf8 (digits only) |
//! | `sha256_hex(text)` | [`sha256_hex`] | Utf8 |
//! | `normalize_name(name)` | [`normalize_name`] | Utf8 |
//! | `jaro_winkler(a, b)` | [`jaro_winkler`] | Float64 |
//! | `phonetic_key(name)` | [`phonetic_key`] | Utf8 |
//! | `connected_components(a, b)` (aggregate) | [`ConnectedComponents`] | `List<Struct<node, component>>` |
//! | `markov_removal_effects(path, converted [, order])` (aggregate) | [`MarkovRemovalEffects`], [`removal_effects`] | `List<Struct<channel, removal_effect>>` |
//! | `shapley_channel_weights(channels, converted [, max_channels])` (aggregate) | [`ShapleyChannelWeights`], [`shapley_weights`] | `List<Struct<channel_set, channel, weight>>` |

mod components;
mod email;
mod hash;
mod markov;
mod name;
mod phone;
mod phonetic;
mod shapley;
mod similarity;
mod strings;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use components::{ConnectedComponents, UnionFind, connected_components};
pub use email::{correct_email_domain, meta_email, normalize_email};
pub use hash::sha256_hex;
pub use markov::{MarkovRemovalEffects, removal_effects};
pub use name::normalize_name;
pub use phone::{meta_phone, normalize_phone};
pub use phonetic::{phonetic_key, soundex};
pub use shapley::{ShapleyChannelWeights, shapley_weights};
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
    ]
}

/// Every aggregate function parcours adds to the SQL dialect.
pub fn aggregate_udfs() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(ConnectedComponents::new()),
        AggregateUDF::from(MarkovRemovalEffects::new()),
        AggregateUDF::from(ShapleyChannelWeights::new()),
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
