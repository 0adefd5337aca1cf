-- Why: undo 1795322401300_auto_topup_blocked: claim_auto_topup_attempt as
-- 1795322400100_payments made it and ledger.write_auto_topup_check as 1795322400400_auto_topup_checks
-- made it (with its comment); ledger.auto_topup_blocked dropped.
create or replace function public.claim_auto_topup_attempt(p_org_id uuid, p_now timestamptz default now())
returns public.auto_topup_attempts
  language plpgsql volatile set search_path = '' as $$
declare
  v_settings public.auto_topup_settings;
  v_package public.topup_packages;
  v_available numeric(20, 3);
  v_month_start timestamptz := date_trunc('month', p_now at time zone 'UTC') at time zone 'UTC';
  v_count int;
  v_minor bigint;
  v_attempt public.auto_topup_attempts;
  v_id uuid := gen_random_uuid();
begin
  select * into v_settings from public.auto_topup_settings where organization_id = p_org_id for update;
  if not found or not v_settings.enabled or v_settings.package_id is null then
    return null;
  end if;
  select b.available_credits into v_available from public.get_credit_balance(p_org_id, p_now) b;
  if v_available is null or v_available >= v_settings.threshold_credits then
    return null;
  end if;
  if exists (select 1 from public.auto_topup_attempts a where a.organization_id = p_org_id and a.status = 'in_flight') then
    return null;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = p_org_id and a.created_at > p_now - make_interval(mins => v_settings.cooldown_minutes)
  ) then
    return null;
  end if;
  select * into v_package from public.topup_packages where id = v_settings.package_id and is_active;
  if not found then
    return null;
  end if;
  -- Monthly caps count the attempts that charged or may still charge.
  select count(*), coalesce(sum(a.price_minor), 0) into v_count, v_minor
  from public.auto_topup_attempts a
  where a.organization_id = p_org_id and a.created_at >= v_month_start and a.status in ('in_flight', 'succeeded', 'requires_action');
  if v_settings.monthly_max_count is not null and v_count >= v_settings.monthly_max_count then
    return null;
  end if;
  if v_settings.monthly_max_minor is not null and v_minor + v_package.price_minor > v_settings.monthly_max_minor then
    return null;
  end if;
  insert into public.auto_topup_attempts
    (id, organization_id, package_id, status, idempotency_key, credits, price_minor, currency, created_at)
  values (v_id, p_org_id, v_package.id, 'in_flight', 'auto_topup:' || v_id, v_package.credits, v_package.price_minor, v_package.currency, p_now)
  on conflict do nothing
  returning * into v_attempt;
  return v_attempt;
end;
$$;
comment on function public.claim_auto_topup_attempt(uuid, timestamptz) is
  'Starts one auto top-up attempt (in_flight, with its idempotency key) when the organization''s auto top-up is on, available is below the threshold, no attempt is in flight, the cooldown has passed and the monthly count and money caps allow the package. Null otherwise. The settings row lock and the one-in-flight index make racing claims start one attempt.';

create or replace function ledger.write_auto_topup_check(p_settings public.auto_topup_settings, p_ledger_entry_id bigint, p_now timestamptz)
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

drop function ledger.auto_topup_blocked(public.auto_topup_settings, timestamptz);
