-- A pair's writes alone (writes.sql) on the hot organization: compare with pair-hot.sql.
\set n random(0, 0)
select id as org from bench_orgs where n = :n \gset
select writes_reserve(:org::uuid, 1.500, gen_random_uuid()::text) as rid \gset
select writes_settle(:rid::uuid, 1.250, :org::uuid);
