-- The queues alone (queues.sql) on the hot organization: compare with pair-hot.sql.
\set n random(0, 0)
select id as org from bench_orgs where n = :n \gset
select queue_reserve(:org::uuid);
select queue_settle(:org::uuid);
