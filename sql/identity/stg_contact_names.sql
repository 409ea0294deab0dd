-- What the probabilistic matcher compares about each newest CRM record: normalised names,
-- birth date, postal code, street, the e-mail's local part (and whether it is made of the
-- names) and the phone's hash. A view:
-- names, streets and local parts feed comparisons only and are never published.
with c as (
    select
        'contact_id:' || contact_id as record,
        arrow_cast(source_system, 'Utf8') as source_system,
        normalize_name(first_name) as first_name,
        normalize_name(last_name) as last_name,
        phonetic_key(first_name) as first_phonetic,
        phonetic_key(last_name) as last_phonetic,
        birth_date,
        nullif(upper(trim(postal_code)), '') as postal_code,
        -- the part before @ survives a mistyped domain (jean.dupont@gmial.com); dots go, as
        -- gmail's normalisation drops them on one side only
        replace(split_part(normalize_email(email), '@', 1), '.', '') as email_local,
        sha256_hex(normalize_phone(phone, country)) as phone_sha256,
        -- '12, av. Victor-Hugo' and '12 avenue victor hugo' are one street: common
        -- abbreviations are spelt out before comparing
        regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(regexp_replace(regexp_replace(regexp_replace(
            normalize_name(street_address),
            '\br\b', 'rue'), '\bav\b', 'avenue'), '\bbd\b', 'boulevard'),
            '\bpl\b', 'place'), '\bch\b', 'chemin'), '\ball\b', 'allee'),
            '\bimp\b', 'impasse'), '\bst\b', 'street'), '\brd\b', 'road') as street
    from stg_crm_contacts_latest
),
parts as (
    select
        * except (street, email_local),
        -- a compound first name's initials (jean francois -> jf), and the initials a first name
        -- is written as (JF, J.-F. -> jf): the over-merge guard takes JF for Jean-François
        case when strpos(first_name, ' ') > 0
            then regexp_replace(first_name, '([^ ])[^ ]*( |$)', '${1}', 'g') end as first_initials,
        case when regexp_like(first_name, '^[^ ]{2}$') then first_name
             when regexp_like(first_name, '^[^ ]( [^ ])+$') then replace(first_name, ' ', '')
        end as first_as_initials,
        nullif(regexp_replace(street, '^([0-9]+) .*$', '${1}'), street) as house_number,
        trim(regexp_replace(street, '^[0-9]+ ', '')) as street_name,
        -- a local part many records share (info@, contact@) says nothing about a person
        case when count(*) over (partition by email_local) <= 4 then email_local end as email_local,
        -- a local part that is only the names (jean.dupont, dupont_j, jdupont, or with the
        -- one or two digits a mailbox provider adds when the name is taken: jean.dupont42)
        -- repeats the name comparison: agreeing on it is (almost) no new evidence
        coalesce(regexp_replace(regexp_replace(email_local, '[0-9]{1,2}$', ''), '[^a-z0-9]', '', 'g') in (
            replace(first_name, ' ', '') || replace(last_name, ' ', ''),
            replace(last_name, ' ', '') || replace(first_name, ' ', ''),
            left(first_name, 1) || replace(last_name, ' ', ''),
            replace(last_name, ' ', '') || left(first_name, 1),
            replace(first_name, ' ', ''), replace(last_name, ' ', '')), false) as email_local_is_names
    from c
)
select
    *,
    -- first and last name get swapped: blocks use the two phonetic keys in sorted order
    -- term frequencies: the share of named records carrying this first (last) name. Two
    -- records agreeing on a rare name are more likely one person than two sharing `martin`
    -- (the term-frequency adjustment of int_identity_probabilistic_links)
    count(*) over (partition by first_name) / cast(count(first_name) over () as double) as first_name_frequency,
    count(*) over (partition by last_name) / cast(count(last_name) over () as double) as last_name_frequency,
    least(first_phonetic, last_phonetic) as phonetic_low,
    greatest(first_phonetic, last_phonetic) as phonetic_high,
    -- same sounding names, same birth date and postal code: one person typed twice. Hashed:
    -- the key is published, the names are not.
    case when birth_date is not null and first_phonetic is not null and last_phonetic is not null
        then sha256_hex(
            least(first_phonetic, last_phonetic) || '|' || greatest(first_phonetic, last_phonetic)
            || '|' || cast(birth_date as varchar) || '|' || coalesce(postal_code, ''))
    end as person_key
from parts
