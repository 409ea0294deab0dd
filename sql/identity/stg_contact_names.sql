-- Normalised names and birth dates of the newest CRM records, for the over-merge guard's
-- "do these records describe the same person" check. A view: names are never published.
select
    'contact_id:' || contact_id as record,
    arrow_cast(source_system, 'Utf8') as source_system,
    normalize_name(first_name) as first_name,
    normalize_name(last_name) as last_name,
    birth_date,
    -- same sounding names (in either order: first and last get swapped), same birth date and
    -- postal code: one person typed twice. Hashed: the key is published, the names are not.
    case when birth_date is not null and phonetic_key(first_name) is not null and phonetic_key(last_name) is not null
        then sha256_hex(
            least(phonetic_key(first_name), phonetic_key(last_name)) || '|' ||
            greatest(phonetic_key(first_name), phonetic_key(last_name)) || '|' ||
            cast(birth_date as varchar) || '|' || coalesce(trim(postal_code), ''))
    end as person_key
from stg_crm_contacts_latest
