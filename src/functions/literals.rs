//! Arguments of parcours's aggregate functions that must be literals (the order of a Markov
//! chain, the number of channels Shapley values are computed exactly for, which Shapley game,
//! how many EM iterations Fellegi–Sunter may take),
//! declared once. [`check_plan`] finds every call in a model's logical plan and refuses a column, a
//! NULL or an out-of-range value there, so `validate`, `compile` and `run` reject it before
//! anything runs; the accumulators read the same declarations ([`LiteralArg::value`]) when
//! they start.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::{Expr, LogicalPlan, WindowFunctionDefinition};

/// One argument that must be an integer literal within `range`, or, when `choices` is not
/// empty, a string literal among `choices` (its value is then the choice's position).
#[derive(Debug, Clone)]
pub struct LiteralArg {
    pub function: &'static str,
    /// Position of the argument (0-based).
    pub index: usize,
    /// What the argument is, for messages.
    pub what: &'static str,
    /// Its value when the call leaves it out.
    pub default: usize,
    pub range: std::ops::RangeInclusive<usize>,
    pub choices: &'static [&'static str],
}

/// Every literal argument of parcours's functions.
pub fn literal_args() -> [LiteralArg; 4] {
    [
        LiteralArg {
            function: super::markov::MarkovRemovalEffects::NAME,
            index: 2,
            what: "order",
            default: 1,
            range: 1..=super::markov::MAX_ORDER,
            choices: &[],
        },
        LiteralArg {
            function: super::shapley::ShapleyChannelWeights::NAME,
            index: 2,
            what: "max_channels",
            default: super::shapley::DEFAULT_MAX_CHANNELS,
            range: 0..=super::shapley::MAX_EXACT_CHANNELS,
            choices: &[],
        },
        LiteralArg {
            function: super::shapley::ShapleyChannelWeights::NAME,
            index: 3,
            what: "variant",
            default: 0,
            range: 0..=super::shapley::VARIANTS.len() - 1,
            choices: super::shapley::VARIANTS,
        },
        LiteralArg {
            function: super::fellegi_sunter::FellegiSunterEm::NAME,
            index: 3,
            what: "max_iterations",
            default: super::fellegi_sunter::DEFAULT_MAX_ITERATIONS,
            range: 1..=super::fellegi_sunter::MAX_ITERATIONS,
            choices: &[],
        },
    ]
}

/// The declaration of argument `index` of `function`.
pub fn literal_arg(function: &str, index: usize) -> Option<LiteralArg> {
    literal_args()
        .into_iter()
        .find(|a| a.function == function && a.index == index)
}

impl LiteralArg {
    /// The value of a literal given for this argument, or why it is refused.
    pub fn value(&self, literal: Option<&ScalarValue>) -> Result<usize, String> {
        if !self.choices.is_empty() {
            let text = match literal {
                Some(ScalarValue::Utf8(Some(v)))
                | Some(ScalarValue::LargeUtf8(Some(v)))
                | Some(ScalarValue::Utf8View(Some(v))) => Some(v.as_str()),
                _ => None,
            };
            return match text.and_then(|t| self.choices.iter().position(|c| *c == t)) {
                Some(i) => Ok(i),
                None => Err(format!(
                    "{}: {} must be one of the string literals {}, got {}",
                    self.function,
                    self.what,
                    self.choices
                        .iter()
                        .map(|c| format!("'{c}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    literal.map_or("an expression that is not a literal".into(), |v| v
                        .to_string())
                )),
            };
        }
        let refuse = |got: String| {
            format!(
                "{}: {} must be an integer literal between {} and {}, got {got}",
                self.function,
                self.what,
                self.range.start(),
                self.range.end()
            )
        };
        let Some(v) = literal else {
            return Err(refuse("an expression that is not a literal".into()));
        };
        let int = match v {
            ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
            ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
            ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
            ScalarValue::Int64(Some(v)) => Some(*v),
            ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
            ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
            ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
            ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
            _ => None,
        };
        match int.and_then(|i| usize::try_from(i).ok()) {
            Some(n) if self.range.contains(&n) => Ok(n),
            _ => Err(refuse(v.to_string())),
        }
    }
}

/// The literal an argument expression is: a constant, possibly negated or cast (`-1`,
/// `cast(3 as int)`); `None` for anything that depends on a row.
fn literal_of(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Alias(a) => literal_of(&a.expr),
        Expr::Negative(inner) => literal_of(inner)?.arithmetic_negate().ok(),
        Expr::Cast(c) => literal_of(&c.expr)?.cast_to(c.field.data_type()).ok(),
        Expr::TryCast(c) => literal_of(&c.expr)?.cast_to(c.field.data_type()).ok(),
        _ => None,
    }
}

/// Checks every call of a function with literal arguments in `plan` (subqueries included);
/// the first refusal is returned with the function's name, so the caller can point at it.
pub fn check_plan(plan: &LogicalPlan) -> Result<(), (String, &'static str)> {
    let mut failure = None;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                let call = match e {
                    Expr::AggregateFunction(AggregateFunction { func, params }) => {
                        Some((func.name().to_string(), &params.args))
                    }
                    Expr::WindowFunction(w) => match w.as_ref() {
                        WindowFunction {
                            fun: WindowFunctionDefinition::AggregateUDF(func),
                            params,
                        } => Some((func.name().to_string(), &params.args)),
                        _ => None,
                    },
                    _ => None,
                };
                if let Some((name, args)) = call {
                    for decl in literal_args().into_iter().filter(|d| d.function == name) {
                        if let Some(arg) = args.get(decl.index)
                            && let Err(m) = decl.value(literal_of(arg).as_ref())
                        {
                            failure = Some((m, decl.function));
                            return Ok(TreeNodeRecursion::Stop);
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_and_refusals() {
        let order = literal_arg("markov_removal_effects", 2).expect("declared");
        assert_eq!(order.value(Some(&ScalarValue::Int64(Some(3)))), Ok(3));
        for bad in [
            Some(ScalarValue::Int64(Some(5))),
            Some(ScalarValue::Int64(Some(0))),
            Some(ScalarValue::Int64(Some(-1))),
            Some(ScalarValue::Int64(None)),
            Some(ScalarValue::Utf8(Some("2".into()))),
            None,
        ] {
            let m = order.value(bad.as_ref()).expect_err("refused");
            assert!(
                m.starts_with(
                    "markov_removal_effects: order must be an integer literal between 1 and 4, got"
                ),
                "{m}"
            );
        }
        assert!(literal_arg("markov_removal_effects", 1).is_none());
    }

    #[test]
    fn choice_literals() {
        let variant = literal_arg("shapley_channel_weights", 3).expect("declared");
        assert_eq!(variant.value(Some(&ScalarValue::from("rate"))), Ok(0));
        assert_eq!(variant.value(Some(&ScalarValue::from("simplified"))), Ok(1));
        for bad in [
            Some(ScalarValue::from("Simplified")),
            Some(ScalarValue::Int64(Some(1))),
            Some(ScalarValue::Utf8(None)),
            None,
        ] {
            let m = variant.value(bad.as_ref()).expect_err("refused");
            assert!(
                m.starts_with(
                    "shapley_channel_weights: variant must be one of the string literals 'rate', 'simplified', got"
                ),
                "{m}"
            );
        }
    }

    #[test]
    fn literals_through_negation_and_casts() {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::{cast, col, lit};
        assert_eq!(literal_of(&lit(3i64)), Some(ScalarValue::Int64(Some(3))));
        assert_eq!(
            literal_of(&Expr::Negative(Box::new(lit(2i64)))),
            Some(ScalarValue::Int64(Some(-2)))
        );
        assert_eq!(
            literal_of(&cast(lit(2i64), DataType::Int32)),
            Some(ScalarValue::Int32(Some(2)))
        );
        assert_eq!(literal_of(&col("order")), None);
    }
}
