-- For every bag of channels of a converting journey (its channels sorted, repeats kept, joined by
-- ','; the order of the touches does not matter to the data-driven model) and each of its
-- channels, the credit ONE touch of that channel earns under the data_driven model: the
-- positive part of the channel's average marginal effect (int_attribution_touch_effects) over
-- the sum of those of the bag's touches. Null when no touch of the bag has a positive effect
-- (fct_attribution then splits the conversion equally over its touches, like linear).
with bags as (
    select distinct array_to_string(array_sort(path), ',') as channel_bag
    from int_attribution_paths
    where converted
),
members as (
    select channel_bag, channel, count(*) as touches
    from (select channel_bag, unnest(string_to_array(channel_bag, ',')) as channel from bags)
    group by channel_bag, channel
),
effects as (
    select
        m.channel_bag, m.channel, m.touches,
        -- decimal: the bag's total is summed exactly, so bit for bit the same in any order
        cast(greatest(coalesce(e.marginal_effect, 0), 0) as decimal(38, 15)) as effect
    from members m
    left join int_attribution_touch_effects e on e.channel = m.channel
)
select
    channel_bag,
    channel,
    cast(effect as double)
        / nullif(cast(sum(effect * touches) over (partition by channel_bag) as double), 0)
        as data_driven_touch_credit
from effects
