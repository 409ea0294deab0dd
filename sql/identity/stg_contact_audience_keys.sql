-- Each ad platform hashes its own normalisation of an e-mail and a phone (Google Customer Match:
-- gmail dots and +tags removed, phone in E.164 with '+'; Meta: e-mail trimmed and lower-cased,
-- phone digits with country code and no '+'). A view: the raw values never leave it.
select
    contact_id,
    sha256_hex(normalize_email(email)) as google_email_sha256,
    sha256_hex(meta_email(email)) as meta_email_sha256,
    sha256_hex(normalize_phone(phone, country)) as google_phone_sha256,
    sha256_hex(meta_phone(normalize_phone(phone, country))) as meta_phone_sha256
from stg_crm_contacts_latest
