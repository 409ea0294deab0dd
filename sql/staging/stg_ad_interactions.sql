-- Ad, e-mail, SMS and social platform interactions with the channel in the curated vocabulary
-- (channel_aliases, as for campaign_spend) and the interaction type lower-cased. Every model
-- that reads a channel or an interaction type reads this view, never the raw export.
select
    a.interaction_id,
    a.interaction_ts,
    coalesce(al.channel, lower(trim(a.channel))) as channel,
    a.campaign_id,
    lower(trim(a.interaction_type)) as interaction_type,
    a.anonymous_id,
    a.email_sha256,
    a.phone_sha256,
    a.dwell_seconds,
    a.export_date
from ad_interactions a
left join channel_aliases al on al.platform_channel = lower(trim(a.channel))
