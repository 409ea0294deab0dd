-- The data-driven model's fit: a logistic regression of conversion on each channel's number of
-- touches in the journey, over the reporting window's journeys, converting and not (the same
-- journeys as markov and shapley), with standard errors and average marginal effects. See
-- src/functions/logistic.rs. One row per channel.
select
    f['channel'] as channel,
    f['coefficient'] as coefficient,
    f['std_error'] as std_error,
    f['marginal_effect'] as marginal_effect,
    f['touches'] as touches,
    f['n_journeys'] as n_journeys,
    f['intercept'] as intercept,
    f['intercept_std_error'] as intercept_std_error,
    f['iterations'] as iterations,
    f['converged'] as converged
from (
    select unnest(logistic_touch_effects(path, converted)) as f
    from int_attribution_paths
)
