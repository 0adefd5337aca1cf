-- The limit of bench:ledger: a single-row UPDATE commit on one row (run it with -c 1).
update bench_limit set n = n + 1 where id = 1;
