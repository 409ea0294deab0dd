-- A CRM row that changes is exported again with a later updated_at: the newest version wins
-- (ties: the later export). PII is normalised here and leaves this view only as hashes.
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
    -- ad platforms' normalisation before hashing: trimmed, lower-case, no +tag, no gmail dots
    sha256_hex(normalize_email(email)) as email_sha256,
    -- E.164, the record's country giving the national format
    sha256_hex(normalize_phone(phone, country)) as phone_sha256,
    upper(trim(country)) as country,
    nullif(trim(loyalty_card_id), '') as loyalty_card_id,
    coalesce(consent_marketing, false) as consent_marketing,
    consent_updated_at,
    created_at,
    updated_at
from ranked
where version_rank = 1
