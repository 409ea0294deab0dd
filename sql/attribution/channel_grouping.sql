-- Seed: the default channel grouping of web landings (like GA4's), one rule per row. A session
-- gets the channel of the first rule (lowest rule_order) whose patterns all match its landing;
-- a null pattern matches anything, and absent values are matched as ''. Tagged links (utm_*)
-- are read first; an untagged landing is classified by its referrer; no referrer is direct.
-- campaign_id is the campaign of untagged landings: the zero-cost pseudo-campaigns of
-- campaign_spend, so organic traffic lines up with its (zero) spend.
select
    cast(rule_order as int) as rule_order,
    utm_medium_pattern,
    utm_source_pattern,
    referrer_pattern,
    channel,
    campaign_id
from (values
    -- tagged links: utm_medium names the channel
    (10, '(?i)^(cpc|ppc|paid_?search|sea)$', null, null, 'paid_search', null),
    (20, '(?i)^(display|banner|cpm|programmatic)$', null, null, 'display', null),
    (30, '(?i)^(paid[_-]?social|social[_-]?paid)$', null, null, 'paid_social', null),
    (40, '(?i)^(e-?mail|newsletter)$', null, null, 'email', null),
    (50, '(?i)^(sms|mms)$', null, null, 'sms', null),
    (60, '(?i)^(affiliates?|partners?)$', null, null, 'affiliate', null),
    (70, '(?i)^(organic|seo)$', null, null, 'organic_search', null),
    (80, '(?i)^(social|social[_-]?organic|social[_-]?network)$', null, null, 'organic_social', null),
    (90, '(?i)^referral$', null, null, 'referral', null),
    -- a tag this table does not know
    (99, '.', null, null, 'unassigned', null),
    -- untagged landings: search engines, social networks, our own site, any other site
    (100, '^$', null, '(?i)^https?://([^/]*\.)?(google|bing|yahoo|qwant|duckduckgo|ecosia|startpage|lilo|baidu|yandex)\.', 'organic_search', 'seo'),
    (110, '^$', null, '(?i)^https?://([^/]*\.)?(facebook|instagram|pinterest|twitter|x|t|linkedin|tiktok|youtube|reddit|snapchat)\.', 'organic_social', 'social_organic'),
    (120, '^$', null, '(?i)^https?://([^/]*\.)?maison-parcours\.fr', 'direct', null),
    (130, '^$', null, '^.', 'referral', null),
    (140, '^$', null, '^$', 'direct', null)
) as rules(rule_order, utm_medium_pattern, utm_source_pattern, referrer_pattern, channel, campaign_id)
