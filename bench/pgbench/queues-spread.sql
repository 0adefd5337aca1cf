-- The queues alone (queues.sql) on one of 100 organizations at random: compare with pair-spread.sql.
\set n random(1, 100)
select id as org from bench_orgs where n = :n \gset
select queue_reserve(:org::uuid);
select queue_settle(:org::uuid);
