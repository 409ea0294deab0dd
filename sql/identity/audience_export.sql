-- Hashed audiences for ad platforms: consented persons only, each destination with its own
-- normalisation (see stg_contact_audience_keys), identifiers from the person's most recently
-- updated CRM record that carries one. Segments: everyone consented, and recent buyers.
with person_contacts as (
    select b.person_id, c.updated_at, k.*
    from bridge_identity b
    join stg_crm_contacts c on b.identifier_type = 'contact_id' and c.contact_id = b.identifier_value
    join stg_contact_audience_keys k on k.contact_id = c.contact_id
),
best as (
    select
        person_id,
        -- ties on updated_at broken by the value, so that a rerun exports the same hashes
        first_value(google_email_sha256 order by updated_at desc, google_email_sha256) filter (where google_email_sha256 is not null) as google_email,
        first_value(meta_email_sha256 order by updated_at desc, meta_email_sha256) filter (where meta_email_sha256 is not null) as meta_email,
        first_value(google_phone_sha256 order by updated_at desc, google_phone_sha256) filter (where google_phone_sha256 is not null) as google_phone,
        first_value(meta_phone_sha256 order by updated_at desc, meta_phone_sha256) filter (where meta_phone_sha256 is not null) as meta_phone
    from person_contacts
    group by person_id
),
consented as (
    select p.person_id, p.country, p.last_seen_at, p.lifetime_revenue, b.*
    from dim_person p
    join best b on b.person_id = p.person_id
    where p.consent_marketing
),
segments as (
    select *, 'all_consented' as segment from consented
    union all
    select *, 'recent_buyers' as segment from consented
    where lifetime_revenue > 0 and last_seen_at >= {{ run_date }} - 90
)
select 'google_ads' as destination, segment, person_id, google_email as email_sha256,
       google_phone as phone_sha256, country
from segments
where google_email is not null or google_phone is not null
union all
select 'meta', segment, person_id, meta_email, meta_phone, country
from segments
where meta_email is not null or meta_phone is not null
