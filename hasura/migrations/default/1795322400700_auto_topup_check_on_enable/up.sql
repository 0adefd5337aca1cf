-- Why: an owner who turns auto top-up on (or raises its threshold) while the organization is
-- already below the threshold expects a pack to be bought now, not at the next spend or the next
-- sweep (up to five minutes later). So a change of auto_topup_settings that turns it on, or raises
-- the threshold, writes an auto top-up check like a spend does (migration 1795322400400), when
-- available is below the new threshold and no attempt started within the cooldown; its event runs
-- the org's auto top-up at once. Such a check names no ledger entry. The time of the change is the
-- row's updated_at (the transaction time, set by auto_topup_settings_set_updated_at, unless the
-- writer gave one), so tests can set the clock as they do for the ledger functions.
--
-- Example: org O has 50 credits available and auto top-up off. The owner saves "on, below 100, buy
-- 500": one check row (ledger_entry_id null) is written, its event claims and charges an attempt.
-- Saving "on, below 40" instead writes none.

alter table public.auto_topup_checks alter column ledger_entry_id drop not null;
comment on column public.auto_topup_checks.ledger_entry_id is
  'The first credits-out entry of the transaction that wrote the check; null when a change of the auto top-up settings (turned on, threshold raised) wrote it.';

create function ledger.request_auto_topup_check_on_settings() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  if not new.enabled or new.package_id is null
    or (tg_op = 'UPDATE' and old.enabled and new.threshold_credits <= old.threshold_credits) then
    return null;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = new.organization_id
      and (a.status = 'in_flight' or a.created_at > new.updated_at - make_interval(mins => new.cooldown_minutes))
  ) then
    return null;
  end if;
  if coalesce(public.api_available_credits(new.organization_id, new.updated_at), 0) >= new.threshold_credits then
    return null;
  end if;
  insert into public.auto_topup_checks (organization_id, ledger_entry_id, created_at)
  values (new.organization_id, null, new.updated_at)
  on conflict on constraint auto_topup_checks_one_per_transaction do nothing;
  return null;
end;
$$;
comment on function ledger.request_auto_topup_check_on_settings() is
  'After auto top-up is turned on or its threshold raised: writes an auto_topup_checks row when available is below the threshold and no attempt started within the cooldown.';

create trigger auto_topup_settings_check after insert or update of enabled, threshold_credits, package_id
  on public.auto_topup_settings
  for each row execute function ledger.request_auto_topup_check_on_settings();
