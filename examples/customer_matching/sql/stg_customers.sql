-- Each customer record, normalised for comparison. The single name field is split into words
-- and the words sorted, so 'DUPONT Jean' and 'Jean Dupont' compare equal; its sound
-- (phonetic_key of the sorted words) blocks typos together. The house number is split from
-- the street. `name_frequency` is the share of records with this name, for the
-- term-frequency adjustment of customer_links.
with c as (
    select customer_id, list, normalize_name(full_name) as name, birth_date,
           nullif(upper(trim(postal_code)), '') as postal_code, normalize_name(address) as address
    from customers
),
n as (
    select *, array_to_string(array_sort(string_to_array(name, ' ')), ' ') as sorted_name from c
)
select
    customer_id, list, sorted_name, phonetic_key(sorted_name) as name_sound, birth_date,
    postal_code, address,
    count(*) over (partition by sorted_name) / cast(count(sorted_name) over () as double) as name_frequency
from n
