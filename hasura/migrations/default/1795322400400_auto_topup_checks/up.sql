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
-- Turning auto top-up on, or raising its threshold, while the organization is already below it
-- writes a check the same way (an owner expects the pack now, not at the next spend or sweep up to
-- five minutes later); such a check names no ledger entry, and its time is the settings row's
-- updated_at (the transaction time, set by auto_topup_settings_set_updated_at, unless the writer
-- gave one), so tests can set the clock as they do for the ledger functions.
--
-- Example: org O has auto top-up on below 100 credits, available 100.500. A settle consumes 1:
-- available is then 99.500 < 100, so one check row is written and its event reaches
-- POST /events/auto_topup_check, which claims and charges the attempt and deletes the check. The
-- next settles, within the cooldown after that attempt, write none. A settle that leaves 100 or
-- more, or any settle of an org without auto top-up, writes none. Had O 50 available with auto top-up
-- off, saving "on, below 100" would write one check at once.
create table public.auto_topup_checks (
  id bigint generated always as identity primary key,
  organization_id uuid not null references public.organizations (id) on delete cascade,
  ledger_entry_id bigint,
  transaction_id xid8 not null default pg_current_xact_id(),
  created_at timestamptz not null default now(),
  constraint auto_topup_checks_one_per_transaction unique (organization_id, transaction_id)
);
create index auto_topup_checks_created_idx on public.auto_topup_checks (created_at);
comment on table public.auto_topup_checks is
  'A request to check one organization''s auto top-up, written when a transaction with credits-out entries left it below its threshold, or when its auto top-up was turned on (or its threshold raised) below it. Hasura''s event trigger auto_topup_check delivers each to the api, which deletes it once handled; the auto top-up sweep deletes what is left after a day.';
comment on column public.auto_topup_checks.ledger_entry_id is
  'The first credits-out entry of the transaction that wrote the check; null when a change of the auto top-up settings wrote it.';

-- The rule both triggers share: a check when no attempt started within the cooldown (which covers
-- one in flight) and available at p_now is below the threshold; one per organization and transaction.
create function ledger.write_auto_topup_check(p_settings public.auto_topup_settings, p_ledger_entry_id bigint, p_now timestamptz)
returns void
  language plpgsql volatile set search_path = '' as $$
begin
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = p_settings.organization_id
      and (a.status = 'in_flight' or a.created_at > p_now - make_interval(mins => p_settings.cooldown_minutes))
  ) then
    return;
  end if;
  if coalesce(public.api_available_credits(p_settings.organization_id, p_now), 0) >= p_settings.threshold_credits then
    return;
  end if;
  insert into public.auto_topup_checks (organization_id, ledger_entry_id, created_at)
  values (p_settings.organization_id, p_ledger_entry_id, p_now)
  on conflict on constraint auto_topup_checks_one_per_transaction do nothing;
end;
$$;
comment on function ledger.write_auto_topup_check(public.auto_topup_settings, bigint, timestamptz) is
  'Writes one auto_topup_checks row for the organization of p_settings when no attempt started within its cooldown and available at p_now is below its threshold (at most one per transaction).';

create function ledger.request_auto_topup_check() returns trigger
  language plpgsql volatile set search_path = '' as $$
declare
  v_settings public.auto_topup_settings;
begin
  select * into v_settings from public.auto_topup_settings s where s.organization_id = new.organization_id;
  if found and v_settings.enabled and v_settings.package_id is not null then
    perform ledger.write_auto_topup_check(v_settings, new.id, new.created_at);
  end if;
  return null;
end;
$$;
comment on function ledger.request_auto_topup_check() is
  'At the commit of a transaction with a credits-out ledger entry: an auto top-up check when the organization''s auto top-up is on (ledger.write_auto_topup_check).';

create constraint trigger credit_ledger_entries_auto_topup_check after insert on public.credit_ledger_entries
  deferrable initially deferred
  for each row when (new.amount_credits < 0) execute function ledger.request_auto_topup_check();

create function ledger.request_auto_topup_check_on_settings() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  if new.enabled and new.package_id is not null
    and (tg_op = 'INSERT' or not old.enabled or new.threshold_credits > old.threshold_credits) then
    perform ledger.write_auto_topup_check(new, null, new.updated_at);
  end if;
  return null;
end;
$$;
comment on function ledger.request_auto_topup_check_on_settings() is
  'After auto top-up is turned on or its threshold raised: an auto top-up check (ledger.write_auto_topup_check), at the row''s updated_at.';

create trigger auto_topup_settings_check after insert or update of enabled, threshold_credits, package_id
  on public.auto_topup_settings
  for each row execute function ledger.request_auto_topup_check_on_settings();
