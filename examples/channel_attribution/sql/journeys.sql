-- The path table as weighted journeys, without exploding it: one row carries a path's
-- conversions (converted = true, weight = total_conversions, with their value), one its
-- non-conversions (converted = false, weight = total_null). Rows of weight 0 count nothing.
select
    string_to_array(path, {{ var("path_separator") }}) as channels,
    true as converted,
    coalesce(total_conversions, 0) as weight,
    coalesce(total_conversion_value, 0) as value
from paths
union all
select string_to_array(path, {{ var("path_separator") }}), false, coalesce(total_null, 0), 0
from paths
