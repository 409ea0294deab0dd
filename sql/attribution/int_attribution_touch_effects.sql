-- The data-driven model's fit: a logistic regression of conversion on each channel's number of
-- touches in the journey, over the reporting window's journeys, converting and not (the same
-- journeys as markov and shapley), with standard errors and average marginal effects. See
-- src/functions/logistic.rs. One row per channel.
-- Within each person (the stratum, the 4th argument): a person's converting journeys are
-- compared with that person's own journeys that did not convert, so what makes some people
-- buy more and also see more of a channel (a loyal customer on the e-mail and SMS lists,
-- whose store tickets are identified) is not taken for the channel's effect. Persons whose
-- journeys all converted, or none did, say nothing about it; `strata` counts the others.
select
    f['channel'] as channel,
    f['coefficient'] as coefficient,
    f['std_error'] as std_error,
    f['marginal_effect'] as marginal_effect,
    f['touches'] as touches,
    f['n_journeys'] as n_journeys,
    f['strata'] as strata,
    f['intercept'] as intercept,
    f['intercept_std_error'] as intercept_std_error,
    f['iterations'] as iterations,
    f['converged'] as converged
from (
    select unnest(logistic_touch_effects(path, converted, 1, person_id)) as f
    from int_attribution_paths
)
