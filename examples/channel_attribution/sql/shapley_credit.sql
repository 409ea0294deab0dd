-- Shapley credit per channel from the weighted journeys: the simplified Shapley value of Zhao et
-- al. (2018) (each converting channel set's conversions shared equally by its channels) on
-- conversions and on value, and the rate-based incremental game's credit (each set's
-- conversions shared by its channels' Shapley values of the conversion-rate game).
with sets as (
    select array_to_string(array_sort(array_distinct(channels)), ',') as channel_set,
           sum(case when converted then weight else 0 end) as conversions,
           sum(value) as value
    from journeys
    group by 1
),
simplified as (
    select unnest(shapley_channel_weights(channels, converted, 12, 'simplified', weight, value)) as w
    from journeys
),
rate as (
    select unnest(shapley_channel_weights(channels, converted, 12, 'rate', weight)) as w
    from journeys
),
credit as (
    select s.w['channel'] as channel,
           cast(s.w['weight'] * t.conversions as decimal(38, 15)) as simplified_conversions,
           cast(s.w['weight'] * t.value as decimal(38, 15)) as simplified_value,
           cast(0 as decimal(38, 15)) as rate_conversions
    from simplified s join sets t on t.channel_set = s.w['channel_set']
    union all
    select r.w['channel'], 0, 0, cast(r.w['weight'] * t.conversions as decimal(38, 15))
    from rate r join sets t on t.channel_set = r.w['channel_set']
)
select channel,
       cast(sum(simplified_conversions) as double) as simplified_conversions,
       cast(sum(simplified_value) as double) as simplified_value,
       cast(sum(rate_conversions) as double) as rate_conversions
from credit
group by channel
