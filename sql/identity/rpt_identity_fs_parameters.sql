-- Fellegi–Sunter, step 2: for each comparison and level, m = P(level | same person) and
-- u = P(level | different persons), and the match weight log2(m/u) the level adds, learnt
-- without labels from tonight's own pairs by expectation–maximisation (fellegi_sunter_em):
--   * u is fixed by the random pairs (strangers agreeing by chance);
--   * m and λ are fitted to the candidate pairs; every other pair of contact records counts
--     as a non-match (total_pairs), so λ is the probability that two records drawn at
--     random are one person and the weights keep their meaning whatever the blocking;
--   * the pairs already tied by an e-mail or phone only seed m. What tied a pair biases what
--     it says about that identifier, so a seed pair's e-mail local part counts only when a
--     phone tied it, and its phone only when an e-mail did.
-- A comparison that no candidate pair shows at two different levels cannot be learnt: its
-- m stays at the seed, learning_signal is false and `warning` says so.
with comparisons as (
    -- position in int_identity_pair_comparisons.levels
    select * from (values
        (1, 'first_name'), (2, 'last_name'), (3, 'birth_date'), (4, 'postal_code'),
        (5, 'street'), (6, 'email_local'), (7, 'phone')
    ) as c(position, comparison)
),
population as (
    -- every pair of the contact records the candidates are drawn from
    select count(*) * (count(*) - 1) / 2.0 as total_pairs from stg_contact_names
),
pairs as (
    select
        case kind when 'training' then 'match' else kind end as role,
        case when kind = 'training' then make_array(
            first_name, last_name, birth_date, postal_code, street,
            case when by_phone then email_local end,
            case when by_email then phone end)
        else levels end as levels
    from int_identity_pair_comparisons
),
em as (
    select fellegi_sunter_em(p.levels, p.role, n.total_pairs) as fit
    from pairs p cross join population n
),
levels as (
    select fit, unnest(fit['parameters']) as l from em
),
flat as (
    select
        c.comparison, c.position, l['level'] as level,
        l['candidate_pairs'] as candidate_pairs, l['match_pairs'] as seed_match_pairs,
        l['random_pairs'] as random_pairs, l['expected_matches'] as expected_matches,
        l['m'] as m, l['u'] as u, l['match_weight'] as match_weight,
        fit['lambda'] as lambda, fit['prior_weight'] as prior_weight,
        fit['iterations'] as em_iterations, fit['max_change'] as em_max_change,
        fit['converged'] as em_converged
    from levels
    join comparisons c on c.position = l['comparison']
),
signal as (
    select comparison,
           count(case when candidate_pairs > 0 then 1 end) >= 2 as learning_signal
    from flat
    group by comparison
)
select
    f.comparison, f.level,
    -- the candidate pairs m is learnt from (EM), at this level
    f.candidate_pairs as training_pairs,
    f.random_pairs, f.m, f.u, f.match_weight,
    f.position, f.seed_match_pairs, f.expected_matches, f.lambda, f.prior_weight,
    f.em_iterations, f.em_max_change, f.em_converged, s.learning_signal,
    case when not s.learning_signal
        then 'no learning signal: no candidate pair shows this comparison at two levels; m is its seed'
        when not f.em_converged then 'EM did not converge'
    end as warning
from flat f
join signal s on s.comparison = f.comparison
