-- Removal effects of every channel at Markov orders 1, 2 and 3, on the probability of
-- converting (removal_effect) and on the expected conversion value (value_removal_effect).
select 1 as markov_order, e['channel'] as channel, e['removal_effect'] as removal_effect,
       e['value_removal_effect'] as value_removal_effect
from (select unnest(markov_removal_effects(channels, converted, 1, weight, value)) as e from journeys)
union all
select 2, e['channel'], e['removal_effect'], e['value_removal_effect']
from (select unnest(markov_removal_effects(channels, converted, 2, weight, value)) as e from journeys)
union all
select 3, e['channel'], e['removal_effect'], e['value_removal_effect']
from (select unnest(markov_removal_effects(channels, converted, 3, weight, value)) as e from journeys)
