-- A CRM row that changes is exported again with a later updated_at: the newest version wins
-- (ties: the later export). PII stays inside this view; only hashes leave it.
with ranked as (
    select
        *,
        row_number() over (
            partition by contact_id
            order by updated_at desc, export_date desc
        ) as version_rank
    from crm_contacts
)
select
    contact_id,
    source_system,
    -- normalised as ad platforms expect before hashing: trimmed, lower-case
    case when email like '%@%'
        then encode(sha256(lower(trim(email))), 'hex') end as email_sha256,
    upper(trim(country)) as country,
    loyalty_card_id,
    coalesce(consent_marketing, false) as consent_marketing,
    created_at,
    updated_at
from ranked
where version_rank = 1
