-- Why: an audit of the jobs found two things in auto top-up's rules.
-- 1. While an off-session charge waited for the bank's authentication (requires_action), a new
--    attempt started at every cooldown: another charge wanting authentication, and another
--    notification to the owners, every hour. Now an attempt waiting for authentication blocks new
--    ones for 24 hours (then one more is tried).
-- 2. The check written at a settle's commit (ledger.write_auto_topup_check) applied only the
--    in-flight and cooldown rules, so an org below its threshold but at its monthly cap (or with an
--    inactive package) wrote a check, and Hasura delivered an event that did nothing, at every call.
-- Both rules now live in one function, ledger.auto_topup_blocked, that the claim and the check share.
--
-- Example: threshold 100, cooldown 60 minutes. 10:15 an attempt ends requires_action. Before: 11:16
-- another attempt (and charge, and notification), 12:17 another. Now: none until 10:15 the next day.

create function ledger.auto_topup_blocked(p_settings public.auto_topup_settings, p_now timestamptz) returns boolean
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

create or replace function public.claim_auto_topup_attempt(p_org_id uuid, p_now timestamptz default now())
returns public.auto_topup_attempts
  language plpgsql volatile set search_path = '' as $$
declare
  v_settings public.auto_topup_settings;
  v_package public.topup_packages;
  v_available numeric(20, 3);
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
  if ledger.auto_topup_blocked(v_settings, p_now) then
    return null;
  end if;
  select * into v_package from public.topup_packages where id = v_settings.package_id;
  insert into public.auto_topup_attempts
    (id, organization_id, package_id, status, idempotency_key, credits, price_minor, currency, created_at)
  values (v_id, p_org_id, v_package.id, 'in_flight', 'auto_topup:' || v_id, v_package.credits, v_package.price_minor, v_package.currency, p_now)
  on conflict do nothing
  returning * into v_attempt;
  return v_attempt;
end;
$$;
comment on function public.claim_auto_topup_attempt(uuid, timestamptz) is
  'Starts one auto top-up attempt (in_flight, with its idempotency key) when the organization''s auto top-up is on, available is below the threshold and ledger.auto_topup_blocked allows one (an active package, no attempt in flight, the cooldown passed, no attempt waiting for the bank''s authentication for less than 24 hours, the monthly count and money caps). Null otherwise. The settings row lock and the one-in-flight index make racing claims start one attempt.';

create or replace function ledger.write_auto_topup_check(p_settings public.auto_topup_settings, p_ledger_entry_id bigint, p_now timestamptz)
returns void
  language plpgsql volatile set search_path = '' as $$
begin
  if coalesce(public.api_available_credits(p_settings.organization_id, p_now), 0) >= p_settings.threshold_credits then
    return;
  end if;
  if ledger.auto_topup_blocked(p_settings, p_now) then
    return;
  end if;
  insert into public.auto_topup_checks (organization_id, ledger_entry_id, created_at)
  values (p_settings.organization_id, p_ledger_entry_id, p_now)
  on conflict on constraint auto_topup_checks_one_per_transaction do nothing;
end;
$$;
comment on function ledger.write_auto_topup_check(public.auto_topup_settings, bigint, timestamptz) is
  'Writes one auto_topup_checks row for the organization of p_settings when available at p_now is below its threshold and ledger.auto_topup_blocked says a claim could start an attempt (at most one per transaction).';
