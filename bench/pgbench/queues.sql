-- The control for pair-hot.sql and pair-spread.sql: the ledger's two queues with nothing else in
-- them. queue_reserve takes the organization's holds (ledger.lock_holds) and adds to one row;
-- queue_settle takes its ledger lock (ledger.lock_ledger) and adds to another; each call is its
-- own transaction, so a pair commits twice, as a reserve -> settle pair does. The rows live in
-- their own table, so running it leaves the ledger's rows as they were. `pnpm bench:pgbench-db`
-- and `BENCH_CALLS=queues pnpm bench:ledger` load this file; queues-hot.sql and queues-spread.sql
-- call it.
create table bench_queues (
  organization_id uuid primary key,
  held numeric(20, 3) not null default 0,
  released numeric(20, 3) not null default 0
);
insert into bench_queues (organization_id) select id from bench_orgs;

create function queue_reserve(p_org_id uuid) returns void
  language plpgsql volatile as $$
begin
  perform ledger.lock_holds(p_org_id);
  update bench_queues set held = held + 1.500 where organization_id = p_org_id;
end;
$$;

create function queue_settle(p_org_id uuid) returns void
  language plpgsql volatile as $$
begin
  perform ledger.lock_ledger(p_org_id);
  update bench_queues set released = released + 1.500 where organization_id = p_org_id;
end;
$$;
