-- Why: the playground (runPlayground) runs the model itself between a reserve and a settle. Sent
-- several times at once with one idempotency key (a double submit, a script), every copy got the
-- same open hold and ran the model, and the settles replayed the first one's charge: five outputs
-- for the price of one, the provider paid five times. And a copy whose run failed released the hold
-- the first copy was still using, so that one was not charged at all.
--
-- One row per (organization, idempotency key) whose run has started, inserted before the reserve:
-- only the request that inserts it runs; any other under that key is refused
-- (IDEMPOTENCY_CONFLICT), however far the first one got. Not part of the Hasura API.
create table ledger.playground_runs (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  idempotency_key text not null,
  started_at timestamptz not null,
  primary key (organization_id, idempotency_key)
);
comment on table ledger.playground_runs is
  'The playground runs started, by organization and idempotency key: one run per key (runPlayground).';
