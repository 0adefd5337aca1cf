-- One reserve -> settle pair on one of 100 organizations (bench_orgs n = 1..100, at random), each
-- call its own transaction. Run against `pnpm bench:pgbench-db`.
\set n random(1, 100)
select id as org from bench_orgs where n = :n \gset
select id as rid from public.reserve_credits(:org::uuid, 1.500, gen_random_uuid()::text, p_capability_code => 'question_suggestions', p_quality_level_code => 'fast') \gset
select status from public.settle_reservation(:rid::uuid, 1.250, p_org_id => :org::uuid);
