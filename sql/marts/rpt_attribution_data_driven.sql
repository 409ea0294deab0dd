-- The data-driven attribution model, in the open: per channel, the fitted change in log-odds of
-- conversion of one more touch (coefficient, with its standard error and z = coefficient /
-- std_error), the average change in conversion probability it brings (marginal_effect, what
-- fct_attribution's data_driven credit is proportional to, its positive part), the touches and
-- journeys it was estimated from, and whether the fit converged. See src/functions/logistic.rs.
select
    channel,
    coefficient,
    std_error,
    coefficient / nullif(std_error, 0) as z,
    marginal_effect,
    -- the touches of channels with no positive effect earn no data_driven credit
    coalesce(marginal_effect > 0, false) as credited,
    touches,
    -- the persons (and their journeys) the coefficients were estimated from: those with both
    -- a converting and a non-converting journey (int_attribution_touch_effects)
    n_journeys,
    strata,
    intercept,
    intercept_std_error,
    iterations,
    converged
from int_attribution_touch_effects
