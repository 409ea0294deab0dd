-- Shapley credit of every channel within every channel set seen on a converting journey of the
-- reporting window, the game being the conversion rate of journeys by their set of channels.
-- Sets of more than shapley_max_channels channels are estimated by sampling orderings.
-- See src/functions/shapley.rs.
select w['channel_set'] as channel_set, w['channel'] as channel, w['weight'] as weight
from (
    select unnest(shapley_channel_weights(path, converted, {{ var("shapley_max_channels") }})) as w
    from int_attribution_paths
)
