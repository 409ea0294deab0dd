-- Removal effect of every channel in the absorbing Markov chain of the reporting window's
-- journeys, converting and not (order: markov_order). See src/functions/markov.rs.
select e['channel'] as channel, e['removal_effect'] as removal_effect
from (
    select unnest(markov_removal_effects(path, converted, {{ var("markov_order") }})) as e
    from int_attribution_paths
)
