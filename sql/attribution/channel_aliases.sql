-- Seed: channel names used by ad platforms and campaign_spend that differ from the channel
-- grouping's (the organic pseudo-campaigns). Any other platform channel is kept as it is.
select platform_channel, channel
from (values
    ('seo', 'organic_search'),
    ('social_organic', 'organic_social')
) as aliases(platform_channel, channel)
