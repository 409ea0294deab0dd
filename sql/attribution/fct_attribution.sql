-- One row per conversion of the reporting window, touch and attribution model: the share of the
-- conversion (credit, summing to 1 per conversion and model) and of its revenue that the touch
-- earns. Touches come from int_attribution_touches (the attribution window before the
-- conversion, in time order, ties ordered by touchpoint_id). The models:
--   first_touch, last_touch: everything to the first / last touch;
--   last_non_direct: everything to the last touch not from the direct channel (the last touch
--     when all are direct);
--   linear: equal shares;
--   time_decay: weights halving every time_decay_half_life_days before the conversion;
--   position_based: 40 % to the first and the last touch, 20 % shared by the touches between
--     (one touch takes everything, two share it equally);
--   markov: the journey's channels share the conversion in proportion to their removal effects
--     (int_markov_removal_effects);
--   shapley: the journey's channels share it by their Shapley weights within the journey's
--     channel set (int_shapley_weights).
-- In markov and shapley a channel's share is split equally over its touches in the journey, and
-- a journey none of whose channels has a weight is shared equally by its touches.
-- A conversion with no touch gets one 'direct' row per model without touchpoint (GA's
-- "(direct) / (none)"), so that credits always sum to 1. Only touches that earn credit get a row.
with touches as (
    select
        t.*,
        coalesce(m.removal_effect, 0) as removal_effect,
        count(*) over (partition by t.conversion_id, t.channel) as channel_touches,
        coalesce(
            max(case when t.channel <> 'direct' then t.touch_rank end) over (partition by t.conversion_id),
            t.touches
        ) as last_non_direct_rank,
        power(0.5, t.seconds_before / (86400.0 * {{ var("time_decay_half_life_days") }})) as decay,
        array_to_string(array_sort(array_distinct(
            array_agg(t.channel) over (partition by t.conversion_id)
        )), ',') as channel_set
    from int_attribution_touches t
    left join int_markov_removal_effects m on m.channel = t.channel
    where t.conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and t.conversion_date <= {{ run_date }}
),
weighted as (
    select
        t.*,
        s.weight as shapley_weight,
        count(s.weight) over (partition by t.conversion_id) as shapley_weighted,
        sum(t.decay) over (partition by t.conversion_id) as total_decay,
        -- each channel's removal effect once per journey
        sum(t.removal_effect / t.channel_touches) over (partition by t.conversion_id) as total_effect
    from touches t
    left join int_shapley_weights s on s.channel_set = t.channel_set and s.channel = t.channel
),
credits as (
    select
        conversion_id, conversion_date, conversion_ts, conversion_type, is_offline, revenue,
        touchpoint_id, touch_ts,
        coalesce(channel, 'direct') as credited_channel,
        campaign_id,
        unnest(case when touches = 0 then make_array(
            named_struct('model', 'first_touch', 'credit', 1.0),
            named_struct('model', 'last_touch', 'credit', 1.0),
            named_struct('model', 'last_non_direct', 'credit', 1.0),
            named_struct('model', 'linear', 'credit', 1.0),
            named_struct('model', 'time_decay', 'credit', 1.0),
            named_struct('model', 'position_based', 'credit', 1.0),
            named_struct('model', 'markov', 'credit', 1.0),
            named_struct('model', 'shapley', 'credit', 1.0)
        ) else make_array(
            named_struct('model', 'first_touch', 'credit', case when touch_rank = 1 then 1.0 else 0.0 end),
            named_struct('model', 'last_touch', 'credit', case when touch_rank = touches then 1.0 else 0.0 end),
            named_struct('model', 'last_non_direct', 'credit',
                case when touch_rank = last_non_direct_rank then 1.0 else 0.0 end),
            named_struct('model', 'linear', 'credit', 1.0 / touches),
            named_struct('model', 'time_decay', 'credit', decay / total_decay),
            named_struct('model', 'position_based', 'credit', case
                when touches = 1 then 1.0
                when touches = 2 then 0.5
                when touch_rank = 1 or touch_rank = touches then 0.4
                else 0.2 / (touches - 2)
            end),
            named_struct('model', 'markov', 'credit', case
                when total_effect > 0 then removal_effect / channel_touches / total_effect
                else 1.0 / touches
            end),
            named_struct('model', 'shapley', 'credit', case
                when shapley_weighted > 0 then coalesce(shapley_weight, 0) / channel_touches
                else 1.0 / touches
            end)
        ) end) as c
    from weighted
)
select
    conversion_id,
    touchpoint_id,
    c['model'] as model,
    credited_channel as channel,
    campaign_id,
    c['credit'] as credit,
    c['credit'] * cast(revenue as double) as attributed_revenue,
    conversion_type,
    is_offline,
    conversion_ts,
    touch_ts,
    conversion_date
from credits
where c['credit'] > 0
