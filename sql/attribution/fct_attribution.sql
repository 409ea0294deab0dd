-- One row per conversion of the reporting window, touch and attribution model: the share of the
-- conversion (credit, summing to 1 per conversion and model) and of its revenue that the touch
-- earns. Touches and their order come from int_attribution_touches. The models:
--   first_touch, last_touch: everything to the first / last touch;
--   last_non_direct: everything to the last touch not from the direct channel (the last touch
--     when all are direct);
--   linear: equal shares;
--   time_decay: weights halving every time_decay_half_life_days before the conversion;
--   position_based: 40 % to the first and the last touch, 20 % shared by the touches between
--     (a single touch takes everything, two share it equally);
--   markov: the journey's channels share the conversion in proportion to their removal effects;
--   shapley: they share it by their Shapley weights within the journey's channel set;
--   data_driven: each touch in proportion to its channel's estimated incremental effect (the
--     positive part of its average marginal effect in the logistic fit published in
--     rpt_attribution_data_driven; int_attribution_bag_weights), equally when no touch of the
--     journey has a positive effect.
-- In markov and shapley a channel's part (int_attribution_set_weights) is split equally over
-- its touches in the journey; a journey none of whose channels has a weight is shared equally
-- by its touches.
-- A conversion with no touch gets one 'direct' row per model without touchpoint (GA's
-- "(direct) / (none)"), so that credits always sum to 1. Only touches that earn credit get a
-- row. String columns are read as plain Utf8 so that both kinds of rows line up.
with journeys as (
    select journey_id, path, channel_set, array_to_string(array_sort(path), ',') as channel_bag
    from int_attribution_paths
    where converted
),
touched as (
    select
        arrow_cast(t.conversion_id, 'Utf8') as conversion_id, t.conversion_date, t.conversion_ts,
        arrow_cast(t.conversion_type, 'Utf8') as conversion_type, t.is_offline, t.revenue,
        arrow_cast(t.touchpoint_id, 'Utf8') as touchpoint_id, t.touch_ts,
        arrow_cast(t.channel, 'Utf8') as channel, arrow_cast(t.campaign_id, 'Utf8') as campaign_id,
        t.touch_rank, t.touches, t.is_last_non_direct, t.decay, t.total_decay,
        w.markov_share,
        w.shapley_weight,
        b.data_driven_touch_credit,
        -- the touches of this channel in the journey
        cardinality(array_positions(j.path, t.channel)) as channel_touches
    from int_attribution_touches t
    join journeys j on j.journey_id = t.conversion_id
    join int_attribution_set_weights w on w.channel_set = j.channel_set and w.channel = t.channel
    left join int_attribution_bag_weights b
      on b.channel_bag = j.channel_bag and b.channel = t.channel
),
touch_credits as (
    select
        conversion_id, conversion_date, conversion_ts, conversion_type, is_offline, revenue,
        touchpoint_id, touch_ts, channel, campaign_id,
        unnest(make_array(
            named_struct('model', 'first_touch', 'credit', case when touch_rank = 1 then 1.0 else 0.0 end),
            named_struct('model', 'last_touch', 'credit', case when touch_rank = touches then 1.0 else 0.0 end),
            named_struct('model', 'last_non_direct', 'credit', case when is_last_non_direct then 1.0 else 0.0 end),
            named_struct('model', 'linear', 'credit', 1.0 / touches),
            named_struct('model', 'time_decay', 'credit', decay / total_decay),
            named_struct('model', 'position_based', 'credit', case
                when touches = 1 then 1.0
                when touches = 2 then 0.5
                when touch_rank = 1 or touch_rank = touches then 0.4
                else 0.2 / (touches - 2)
            end),
            named_struct('model', 'markov', 'credit',
                coalesce(markov_share / channel_touches, 1.0 / touches)),
            named_struct('model', 'shapley', 'credit',
                coalesce(shapley_weight / channel_touches, 1.0 / touches)),
            named_struct('model', 'data_driven', 'credit',
                coalesce(data_driven_touch_credit, 1.0 / touches))
        )) as c
    from touched
),
-- conversions of the reporting window that no touch reached (an aggregate, not a join)
untouched as (
    select
        conversion_id,
        max(conversion_date) as conversion_date,
        max(conversion_ts) as conversion_ts,
        max(conversion_type) as conversion_type,
        bool_or(is_offline) as is_offline,
        max(revenue) as revenue
    from (
        select
            arrow_cast(conversion_id, 'Utf8') as conversion_id, conversion_date, conversion_ts,
            arrow_cast(conversion_type, 'Utf8') as conversion_type, is_offline, revenue,
            false as touched
        from fct_conversion
        where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
          and conversion_date <= {{ run_date }}
        union all
        select
            arrow_cast(conversion_id, 'Utf8'), conversion_date, conversion_ts,
            arrow_cast(conversion_type, 'Utf8'), is_offline, revenue, true
        from int_attribution_touches
        where touch_rank = 1
    )
    group by conversion_id
    having not bool_or(touched)
),
untouched_credits as (
    select
        conversion_id, conversion_date, conversion_ts, conversion_type, is_offline, revenue,
        arrow_cast(null, 'Utf8') as touchpoint_id,
        arrow_cast(null, 'Timestamp(Microsecond, Some("UTC"))') as touch_ts,
        arrow_cast('direct', 'Utf8') as channel,
        arrow_cast(null, 'Utf8') as campaign_id,
        unnest(make_array(
            named_struct('model', 'first_touch', 'credit', 1.0),
            named_struct('model', 'last_touch', 'credit', 1.0),
            named_struct('model', 'last_non_direct', 'credit', 1.0),
            named_struct('model', 'linear', 'credit', 1.0),
            named_struct('model', 'time_decay', 'credit', 1.0),
            named_struct('model', 'position_based', 'credit', 1.0),
            named_struct('model', 'markov', 'credit', 1.0),
            named_struct('model', 'shapley', 'credit', 1.0),
            named_struct('model', 'data_driven', 'credit', 1.0)
        )) as c
    from untouched
),
credits as (
    select * from touch_credits
    union all
    select * from untouched_credits
)
select
    conversion_id,
    touchpoint_id,
    c['model'] as model,
    channel,
    campaign_id,
    c['credit'] as credit,
    -- money in micro-units: a conversion's rows add up to its revenue within 5e-7 a touch
    cast(c['credit'] * cast(revenue as double) as decimal(18, 6)) as attributed_revenue,
    conversion_type,
    is_offline,
    conversion_ts,
    touch_ts,
    conversion_date
from credits
where c['credit'] > 0
