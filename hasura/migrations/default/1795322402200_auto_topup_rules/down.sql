-- Why: undo 1795322402200_auto_topup_rules: ledger.auto_topup_blocked and the comment of
-- claim_auto_topup_attempt as 1795322401300_auto_topup_blocked made them; the card trigger and the
-- pack-off-sale trigger dropped with their functions. The "needs a card" reason it wrote is cleared;
-- auto top-up it turned off (a pack off sale) stays off, and its notifications stay.
drop trigger topup_packages_off_sale on public.topup_packages;
drop function ledger.auto_topup_pack_off_sale();
drop function ledger.turn_off_auto_topup_of_pack(uuid, timestamptz);
drop trigger auto_topup_settings_wait_for_card on public.auto_topup_settings;
drop function ledger.auto_topup_wait_for_card();
update public.auto_topup_settings s set disabled_reason = null
where s.disabled_reason = 'Auto top-up needs a card: buy a pack once with auto top-up on to save it';

create or replace function ledger.auto_topup_blocked(p_settings public.auto_topup_settings, p_now timestamptz) returns boolean
  language plpgsql stable set search_path = '' as $$
declare
  v_month_start timestamptz := date_trunc('month', p_now at time zone 'UTC') at time zone 'UTC';
  v_price bigint;
  v_count int;
  v_minor bigint;
begin
  select k.price_minor into v_price from public.topup_packages k where k.id = p_settings.package_id and k.is_active;
  if not found then
    return true;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = p_settings.organization_id
      and (a.status = 'in_flight'
        or a.created_at > p_now - make_interval(mins => p_settings.cooldown_minutes)
        -- Waiting for the bank's authentication: another off-session charge would want it too.
        or (a.status = 'requires_action' and a.created_at > p_now - interval '24 hours'))
  ) then
    return true;
  end if;
  -- Monthly caps count the attempts that charged or may still charge.
  select count(*), coalesce(sum(a.price_minor), 0) into v_count, v_minor
  from public.auto_topup_attempts a
  where a.organization_id = p_settings.organization_id and a.created_at >= v_month_start
    and a.status in ('in_flight', 'succeeded', 'requires_action');
  return (p_settings.monthly_max_count is not null and v_count >= p_settings.monthly_max_count)
    or (p_settings.monthly_max_minor is not null and v_minor + v_price > p_settings.monthly_max_minor);
end;
$$;
comment on function ledger.auto_topup_blocked(public.auto_topup_settings, timestamptz) is
  'Whether an auto top-up attempt may not start now, whatever the balance: no active package, an attempt in flight, one within the cooldown, one waiting for the bank''s authentication for less than 24 hours, or a monthly cap reached. Shared by claim_auto_topup_attempt and ledger.write_auto_topup_check, so that no check (and no Hasura event) is written for a claim that would refuse.';

comment on function public.claim_auto_topup_attempt(uuid, timestamptz) is
  'Starts one auto top-up attempt (in_flight, with its idempotency key) when the organization''s auto top-up is on, available is below the threshold and ledger.auto_topup_blocked allows one (an active package, no attempt in flight, the cooldown passed, no attempt waiting for the bank''s authentication for less than 24 hours, the monthly count and money caps). Null otherwise. The settings row lock and the one-in-flight index make racing claims start one attempt.';
