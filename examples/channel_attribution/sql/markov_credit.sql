-- ChannelAttribution's markov_model output: each channel's removal effect over the sum of all
-- channels' effects, times all conversions (total_conversions) and, with the value effects,
-- times all conversion value (total_conversion_value). Sums are exact decimals, so the result
-- does not depend on the order rows are added in.
with totals as (
    select sum(cast(total_conversions as decimal(38, 9))) as conversions,
           sum(cast(total_conversion_value as decimal(38, 9))) as value
    from paths
),
effects as (
    select
        markov_order, channel, removal_effect, value_removal_effect,
        sum(cast(removal_effect as decimal(38, 15))) over (partition by markov_order) as total_effect,
        sum(cast(value_removal_effect as decimal(38, 15))) over (partition by markov_order) as total_value_effect
    from markov_removal_effects_by_order
)
select
    e.markov_order,
    e.channel,
    e.removal_effect / nullif(cast(e.total_effect as double), 0) * cast(t.conversions as double)
        as total_conversions,
    e.value_removal_effect / nullif(cast(e.total_value_effect as double), 0) * cast(t.value as double)
        as total_conversion_value
from effects e
cross join totals t
