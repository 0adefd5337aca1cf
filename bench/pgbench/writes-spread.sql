-- A pair's writes alone (writes.sql) on one of 100 organizations at random: compare with
-- pair-spread.sql.
\set n random(1, 100)
select id as org from bench_orgs where n = :n \gset
select writes_reserve(:org::uuid, 1.500, gen_random_uuid()::text) as rid \gset
select writes_settle(:rid::uuid, 1.250, :org::uuid);
