-- Seed: the one channel vocabulary. campaign_spend names the zero-cost organic pseudo-campaigns
-- `seo` and `social_organic` (raw-exports contract), where the channel grouping of web landings
-- and every curated table say `organic_search` and `organic_social`. stg_campaign_spend and
-- stg_ad_interactions apply this mapping (after lower-casing and trimming); nothing downstream
-- reads a raw channel. A channel not listed here is kept as it is.
select platform_channel, channel
from (values
    ('seo', 'organic_search'),
    ('social_organic', 'organic_social')
) as aliases(platform_channel, channel)
