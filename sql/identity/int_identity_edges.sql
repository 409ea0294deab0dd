-- Every record that may belong to a person, and every identifier it carries, as graph edges
-- (record node -> identifier node). Nodes are '<type>:<value>', so a node says what it is.
-- Records: contact_id, order_id, transaction_id, registration_id, anonymous_id (cookies).
-- A record can also be another record's node (an order names its cookie, a cookie its order).
-- Identifiers: email_sha256, phone_sha256, loyalty_card_id, customer_id (e-commerce account),
-- email_sha256 of an address whose provider domain was mistyped, once corrected (rule
-- email_corrected, less confident: the correction is a guess),
-- person_key (hash of names, birth date and postal code).
-- Each edge carries its rule and the rule's confidence; a record's 'record' edge (no node)
-- keeps it in the graph even when it carries nothing. Each source is read once: a row lists
-- its edges in an array that is unnested.
with contact_edges as (
    select record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        select 'contact_id:' || contact_id as record, arrow_cast(source_system, 'Utf8') as system, unnest(make_array(
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', case when email_is_role then 'role_address' else 'email' end, 'confidence', 0.99),
            named_struct('node', case when not email_is_role then 'email_sha256:' || email_corrected_sha256 end, 'rule', 'email_corrected', 'confidence', 0.9),
            named_struct('node', 'phone_sha256:' || phone_sha256, 'rule', 'phone', 'confidence', 0.95),
            named_struct('node', 'loyalty_card_id:' || loyalty_card_id, 'rule', 'loyalty_card', 'confidence', 0.99),
            -- an e-commerce record is the account that web logins and orders name
            named_struct('node', case when source_system = 'ecommerce' then 'customer_id:' || contact_id end,
                         'rule', 'account', 'confidence', 1.0)
        )) as e
        from stg_crm_contacts
    )
),
name_edges as (
    select record, source_system as system, 'person_key:' || person_key as node,
           'name_birth_date' as rule, 0.9 as confidence
    from stg_contact_names
    where person_key is not null
),
cookie_edges as (
    select distinct record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        -- bots are not people: their cookies join no one. An event exported twice gives the
        -- same edges, which `distinct` removes: no need to de-duplicate events first.
        select 'anonymous_id:' || anonymous_id as record, 'web' as system, unnest(make_array(
            named_struct('node', 'customer_id:' || user_id, 'rule', 'cookie_login', 'confidence', 0.97),
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', 'cookie_email', 'confidence', 0.97),
            -- the purchase event names the order placed from this cookie, even when the
            -- order itself was exported without the cookie
            named_struct('node', case when event_type = 'purchase' then 'order_id:' || order_id end,
                         'rule', 'cookie_purchase', 'confidence', 0.98)
        )) as e
        from stg_web_events_all
        where not is_bot and (user_id is not null or email_sha256 is not null
                              or (event_type = 'purchase' and order_id is not null))
    )
),
ad_cookie_edges as (
    select distinct record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        -- platforms match a cookie to the hashed e-mail or phone they sent the message to
        select 'anonymous_id:' || anonymous_id as record, 'ads' as system, unnest(make_array(
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', 'ad_platform_match', 'confidence', 0.9),
            named_struct('node', 'phone_sha256:' || phone_sha256, 'rule', 'ad_platform_match', 'confidence', 0.9)
        )) as e
        from ad_interactions
        where anonymous_id is not null and (email_sha256 is not null or phone_sha256 is not null)
    )
),
order_edges as (
    select record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        select 'order_id:' || order_id as record, 'orders' as system, unnest(make_array(
            named_struct('node', 'customer_id:' || customer_id, 'rule', 'order_customer', 'confidence', 1.0),
            named_struct('node', 'anonymous_id:' || anonymous_id, 'rule', 'order_cookie', 'confidence', 0.98),
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', case when email_is_role then 'role_address' else 'email' end, 'confidence', 0.99),
            named_struct('node', case when not email_is_role then 'email_sha256:' || email_corrected_sha256 end, 'rule', 'email_corrected', 'confidence', 0.9)
        )) as e
        from stg_orders
    )
),
till_edges as (
    select record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        select 'transaction_id:' || transaction_id as record, 'pos' as system, unnest(make_array(
            named_struct('node', 'loyalty_card_id:' || loyalty_card_id, 'rule', 'till_loyalty_card', 'confidence', 0.99),
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', case when email_is_role then 'role_address' else 'till_e_receipt' end, 'confidence', 0.97),
            named_struct('node', case when not email_is_role then 'email_sha256:' || email_corrected_sha256 end, 'rule', 'email_corrected', 'confidence', 0.9),
            named_struct('node', 'phone_sha256:' || phone_sha256, 'rule', 'phone', 'confidence', 0.95)
        )) as e
        from stg_pos_transactions
    )
),
registration_edges as (
    select record, system, e['node'] as node, e['rule'] as rule, e['confidence'] as confidence
    from (
        select 'registration_id:' || registration_id as record, 'registrations' as system, unnest(make_array(
            named_struct('node', 'email_sha256:' || email_sha256, 'rule', case when email_is_role then 'role_address' else 'email' end, 'confidence', 0.99),
            named_struct('node', case when not email_is_role then 'email_sha256:' || email_corrected_sha256 end, 'rule', 'email_corrected', 'confidence', 0.9)
        )) as e
        from stg_purchase_registrations
    )
),
all_edges as (
    select * from contact_edges union all select * from name_edges union all select * from cookie_edges
    union all select * from ad_cookie_edges union all select * from order_edges
    union all select * from till_edges union all select * from registration_edges
),
records as (
    select distinct record, system from all_edges
)
select record, node, rule, confidence, system as source_system
from all_edges
where node is not null
union all
select record, cast(null as varchar), 'record', 1.0, system
from records
