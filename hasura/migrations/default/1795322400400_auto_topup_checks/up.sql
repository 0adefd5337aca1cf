-- Why: auto top-up must start as soon as a spend takes an organization below its threshold, but
-- Hasura's event triggers fire on every row of their table and cannot filter on its values. With
-- the event trigger on credit_ledger_entries, every AI call's settle wrote a row to Hasura's event
-- log and cost an HTTP call to the api that, for nearly every organization, found nothing to do:
-- about as much CPU as the call itself (bench:actions). So the ledger writes a check only when one
-- could start an attempt, and Hasura's event trigger is on that table.
--
-- A credits-out entry (consume, expire, clawback) writes a check when the organization's auto
-- top-up is on, no attempt was started within the cooldown (which covers one in flight), and its
-- available credits are below the threshold once the entry's transaction is done. The trigger is
-- deferred to the commit for that last part: a settle writes its consume entries before it gives
-- its hold back, so only at the end is available what claim_auto_topup_attempt will read. One
-- check per organization and transaction (a settle drawing from two grants writes two entries).
-- claim_auto_topup_attempt decides exactly; the auto top-up sweep stays the safety net.
--
-- Example: org O has auto top-up on below 100 credits, available 100.500. A settle consumes 1:
-- available is then 99.500 < 100, so one check row is written and its event reaches
-- POST /events/auto_topup_check, which claims and charges the attempt and deletes the check. The
-- next settles, within the cooldown after that attempt, write none. A settle that leaves 100 or
-- more, or any settle of an org without auto top-up, writes none.
create table public.auto_topup_checks (
  id bigint generated always as identity primary key,
  organization_id uuid not null references public.organizations (id) on delete cascade,
  ledger_entry_id bigint not null,
  transaction_id xid8 not null default pg_current_xact_id(),
  created_at timestamptz not null default now(),
  constraint auto_topup_checks_one_per_transaction unique (organization_id, transaction_id)
);
create index auto_topup_checks_created_idx on public.auto_topup_checks (created_at);
comment on table public.auto_topup_checks is
  'A request to check one organization''s auto top-up, written by the ledger when a transaction with credits-out entries left it below its threshold. Hasura''s event trigger auto_topup_check delivers each to the api, which deletes it once handled; the auto top-up sweep deletes what is left after a day.';
comment on column public.auto_topup_checks.ledger_entry_id is 'The first credits-out entry of the transaction that wrote the check.';

create function ledger.request_auto_topup_check() returns trigger
  language plpgsql volatile set search_path = '' as $$
declare
  v_settings public.auto_topup_settings;
begin
  select * into v_settings from public.auto_topup_settings s where s.organization_id = new.organization_id;
  if not found or not v_settings.enabled or v_settings.package_id is null then
    return null;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = new.organization_id
      and (a.status = 'in_flight' or a.created_at > new.created_at - make_interval(mins => v_settings.cooldown_minutes))
  ) then
    return null;
  end if;
  if coalesce(public.api_available_credits(new.organization_id, new.created_at), 0) >= v_settings.threshold_credits then
    return null;
  end if;
  insert into public.auto_topup_checks (organization_id, ledger_entry_id, created_at)
  values (new.organization_id, new.id, new.created_at)
  on conflict on constraint auto_topup_checks_one_per_transaction do nothing;
  return null;
end;
$$;
comment on function ledger.request_auto_topup_check() is
  'At the commit of a transaction with a credits-out ledger entry: writes one auto_topup_checks row when the organization''s auto top-up is on, no attempt started within the cooldown and available is below its threshold.';

create constraint trigger credit_ledger_entries_auto_topup_check after insert on public.credit_ledger_entries
  deferrable initially deferred
  for each row when (new.amount_credits < 0) execute function ledger.request_auto_topup_check();
