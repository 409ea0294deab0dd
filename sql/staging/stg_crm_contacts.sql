-- CRM records (newest version, see stg_crm_contacts_latest) with PII normalised; it leaves
-- this view only as hashes.
select
    contact_id,
    source_system,
    -- ad platforms' normalisation before hashing: trimmed, lower-case, no +tag, no gmail dots
    sha256_hex(normalize_email(email)) as email_sha256,
    -- a mistyped provider domain (gmial.com), corrected: a weaker link than the address itself
    sha256_hex(correct_email_domain(email)) as email_corrected_sha256,
    -- a role address (contact@, info@) is a team's inbox, not a person's
    coalesce(regexp_like(normalize_email(email), {{ var("role_email_pattern") }}), false) as email_is_role,
    -- E.164, the record's country giving the national format
    sha256_hex(normalize_phone(phone, country)) as phone_sha256,
    upper(trim(country)) as country,
    nullif(trim(loyalty_card_id), '') as loyalty_card_id,
    coalesce(consent_marketing, false) as consent_marketing,
    consent_updated_at,
    created_at,
    updated_at
from stg_crm_contacts_latest
