-- The over-merge guard, first step (see int_shared_identifiers): an e-mail or phone seen with
-- several strong anchors of one kind — several contact records of one source system, several
-- e-commerce accounts, several loyalty cards — is a family phone or a company inbox. A model of
-- its own so that its sorts get the whole memory pool.
with anchors as (
    -- (record, anchor): the strong keys each record carries
    select record, node as anchor, split_part(node, ':', 1) as anchor_kind
    from int_identity_edges
    where node like 'customer_id:%' or node like 'loyalty_card_id:%'
    union all
    select record, record as contact, 'contact_id/' || source_system
    from int_identity_edges
    where record like 'contact_id:%' and node is null
),
co_occurrence as (
    -- distinct rows, then count(*): count(distinct) keeps a hash set per group, which over
    -- millions of groups costs gigabytes the memory pool does not see. Cookies are left
    -- out: on a public computer every account logged in would make every e-mail typed there
    -- look shared (such cookies are caught by shared_cookies instead).
    select node, anchor_kind, count(*) as anchors
    from (
        select distinct e.node, a.anchor_kind, a.anchor
        from int_identity_edges e
        join anchors a on a.record = e.record
        where (e.node like 'email_sha256:%' or e.node like 'phone_sha256:%')
          and e.record not like 'anonymous_id:%'
    )
    group by node, anchor_kind
),
shared_by_anchors as (
    select node, max(anchors) as records, 'anchors_per_identifier' as reason
    from co_occurrence
    group by node
    having max(anchors) > {{ var("max_anchors_per_identifier") }}
)
select node, records, reason from shared_by_anchors
