-- Credit per channel and attribution model over the reporting window: conversions credited
-- (fractional), revenue attributed, the channel's share of the model's conversions, and its
-- conversions per touch (credit over the channel's touches in the reporting window: what one
-- more touch earned, comparable across channels of very different volume). `parcours eval
-- attribution` ranks channels by both against the generator's planted per-touch lifts.
-- Credits (doubles) are summed as decimal(38, 15): exact, so the totals are the same bit for
-- bit whatever order the engine adds them in (a rerun, another thread count).
-- markov_global_conversions (markov rows only): Markov credit normalised as ChannelAttribution
-- does, globally: removal effect / Σ removal effects × the conversions that have a path (touched
-- ones). `conversions` splits each journey's conversion over its own channels instead.
with by_channel as (
    select model, channel, sum(cast(credit as decimal(38, 15))) as conversions,
           sum(attributed_revenue) as revenue,
           sum(case when touchpoint_id is not null then cast(credit as decimal(38, 15)) end)
               as touched_conversions
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by model, channel
),
touches as (
    select channel, count(*) as touches
    from fct_touchpoint
    where cast(touch_ts as date) > {{ run_date }} - {{ var("lookback_days") }}
      and cast(touch_ts as date) <= {{ run_date }}
    group by channel
),
effects as (
    select
        channel,
        cast(removal_effect as decimal(38, 15)) as removal_effect,
        sum(cast(removal_effect as decimal(38, 15))) over () as total_effect
    from int_markov_removal_effects
)
select
    b.channel,
    b.model,
    cast(b.conversions as double) as conversions,
    cast(b.revenue as decimal(18, 6)) as revenue,
    cast(b.conversions as double) / cast(sum(b.conversions) over (partition by b.model) as double) as share,
    case when b.model = 'markov' then
        coalesce(cast(e.removal_effect as double) / nullif(cast(e.total_effect as double), 0), 0)
        * cast(sum(b.touched_conversions) over (partition by b.model) as double)
    end as markov_global_conversions,
    -- null for `direct` (a conversion without touch) and a channel without touch in the window
    t.touches,
    cast(b.conversions as double) / nullif(t.touches, 0) as conversions_per_touch
from by_channel b
left join effects e on e.channel = b.channel
left join touches t on t.channel = b.channel
