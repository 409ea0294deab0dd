-- One row per marketing touch of a known person: ad, e-mail, SMS and social engagements
-- (clicks, opens, views, likes, shares, comments; impressions too when
-- attribution_include_impressions) and web sessions, which touch through their landing's
-- channel (tracked link, referrer, or direct). Bot sessions are never touches
-- (int_web_sessions), and a touch whose person is unknown is left out.
-- Published for the days attribution reads: the reporting window (lookback_days) and two
-- attribution windows before it, which the journeys that did not convert need.
with candidates as (
    select
        'interaction' as record_type, interaction_id as record_id,
        'ad:' || interaction_id as touchpoint_id, interaction_ts as touch_ts,
        channel, campaign_id, interaction_type,
        'ad' as source, interaction_type = 'impression' as is_view_through
    from stg_ad_interactions
    where interaction_type <> 'impression' or {{ var("attribution_include_impressions") }}
    union all
    -- plain Utf8 like the raw export: a string column read back from a staged table is a view
    -- type whose batches are accounted at the size of the whole pages they point into, which
    -- starves the memory pool when this side becomes a hash table
    select
        'session', arrow_cast(session_id, 'Utf8'), arrow_cast('web:' || session_id, 'Utf8'),
        landing_ts, arrow_cast(channel, 'Utf8'), arrow_cast(campaign_id, 'Utf8'), 'session', 'web',
        false
    from int_web_sessions
),
in_range as (
    select c.*, p.person_id
    from candidates c
    join int_attribution_persons p on p.record_type = c.record_type and p.record_id = c.record_id
    -- one day more than published, so a repeat on the first day sees what it repeats
    where c.touch_ts >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
      and cast(c.touch_ts as date) <= {{ run_date }}
),
-- Each touch with the one before and after it on the timeline of the same person, channel and
-- campaign. One window ordered by that key, checked on each neighbour, rather than a window
-- partitioned by it: DataFusion handles millions of tiny partitions at half the speed.
keyed as (
    select *, named_struct(
        'person_id', person_id, 'channel', channel, 'campaign_id', coalesce(campaign_id, ''),
        'touch_ts', touch_ts, 'is_view_through', is_view_through
    ) as touch
    from in_range
),
sequenced as (
    select
        *,
        lag(touch) over timeline as previous,
        lead(touch) over timeline as next
    from keyed
    window timeline as (
        order by person_id, channel, coalesce(campaign_id, ''), touch_ts, touchpoint_id
    )
),
same_touch as (
    select
        *,
        previous['person_id'] = person_id and (previous['channel'] is not distinct from channel)
            and previous['campaign_id'] = coalesce(campaign_id, '') as has_previous,
        next['person_id'] = person_id and (next['channel'] is not distinct from channel)
            and next['campaign_id'] = coalesce(campaign_id, '') as has_next
    from sequenced
)
select
    touchpoint_id, person_id, touch_ts, cast(touch_ts as date) as touch_date,
    channel, campaign_id, interaction_type, source, is_view_through
from same_touch
where cast(touch_ts as date) > {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }})
  -- Repeats of a touch (same person, channel and campaign) less than
  -- attribution_collapse_minutes apart are one touch: an ad click and the session it opens, an
  -- e-mail open and its click, a double click. The first is kept, except that an engagement
  -- supersedes the impression just before it.
  and not coalesce(
      has_previous and previous['touch_ts'] > touch_ts - cast({{ var("attribution_collapse_minutes") }} || ' minutes' as interval)
      and not (previous['is_view_through'] and not is_view_through),
      false)
  and not coalesce(
      has_next and is_view_through and not next['is_view_through']
      and next['touch_ts'] < touch_ts + cast({{ var("attribution_collapse_minutes") }} || ' minutes' as interval),
      false)
