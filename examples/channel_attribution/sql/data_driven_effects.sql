-- parcours's data-driven model on the path table: the logistic regression of conversion on each
-- channel's touch count, weighted by the path counts (see `parcours functions
-- logistic_touch_effects`).
select f['channel'] as channel, f['coefficient'] as coefficient, f['std_error'] as std_error,
       f['marginal_effect'] as marginal_effect, f['touches'] as touches,
       f['n_journeys'] as n_journeys, f['iterations'] as iterations, f['converged'] as converged
from (select unnest(logistic_touch_effects(channels, converted, weight)) as f from journeys)
