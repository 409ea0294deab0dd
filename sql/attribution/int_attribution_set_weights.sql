-- For every channel set of a converting journey and each of its channels, the part of a
-- conversion that channel earns under the data-driven models:
--   markov_share: its removal effect over the sum of the set's removal effects (null when no
--     channel of the set has an effect);
--   shapley_weight: its Shapley weight within the set.
with sets as (
    select distinct channel_set from int_attribution_paths where converted
),
members as (
    select channel_set, unnest(string_to_array(channel_set, ',')) as channel from sets
),
effects as (
    select m.channel_set, m.channel, coalesce(e.removal_effect, 0) as removal_effect
    from members m
    left join int_markov_removal_effects e on e.channel = m.channel
)
select
    f.channel_set,
    f.channel,
    -- effects as decimal(38, 15), the set's total summed exactly (in any order the same), so
    -- that the share is bit for bit the same however the rows were partitioned, and at most 1
    cast(cast(f.removal_effect as decimal(38, 15)) as double)
        / nullif(cast(sum(cast(f.removal_effect as decimal(38, 15)))
            over (partition by f.channel_set) as double), 0) as markov_share,
    s.weight as shapley_weight
from effects f
left join int_shapley_weights s on s.channel_set = f.channel_set and s.channel = f.channel
