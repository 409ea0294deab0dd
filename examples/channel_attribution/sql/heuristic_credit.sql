-- ChannelAttribution's heuristic_models: all of a path's conversions (and value) to its first
-- channel, to its last, or shared equally by its touches (linear_touch). Sums are exact
-- decimals, so the result does not depend on the order rows are added in.
with paths_as_lists as (
    select string_to_array(path, {{ var("path_separator") }}) as channels,
           cast(coalesce(total_conversions, 0) as decimal(38, 9)) as conversions,
           cast(coalesce(total_conversion_value, 0) as decimal(38, 9)) as value
    from paths
),
touches as (
    -- two unnests in one select walk the list and its positions together
    select unnest(channels) as channel,
           unnest(range(1, cast(cardinality(channels) as bigint) + 1)) as position,
           cardinality(channels) as touches,
           conversions, value
    from paths_as_lists
)
select
    channel,
    cast(sum(case when position = 1 then conversions else 0 end) as double) as first_touch_conversions,
    cast(sum(case when position = 1 then value else 0 end) as double) as first_touch_value,
    cast(sum(case when position = touches then conversions else 0 end) as double) as last_touch_conversions,
    cast(sum(case when position = touches then value else 0 end) as double) as last_touch_value,
    cast(sum(cast(cast(conversions as double) / touches as decimal(38, 15))) as double) as linear_touch_conversions,
    cast(sum(cast(cast(value as double) / touches as decimal(38, 15))) as double) as linear_touch_value
from touches
group by channel
