-- Why: undo 1795322401700_jobs_due_organizations: the global jobs as 1795322400001_ledger_functions
-- and 1795322400100_payments made them, and the due functions dropped.
create or replace function public.expire_reservations(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org record;
  v_held numeric(20, 3);
  v_n integer;
begin
  for v_org in
    select distinct r.organization_id from public.credit_reservations r
    where r.status = 'open' and r.expires_at <= p_now
    order by r.organization_id
  loop
    with expired as (
      update public.credit_reservations r
      set status = 'expired', resolved_at = p_now, updated_at = p_now
      where r.id in (
        select r2.id from public.credit_reservations r2
        where r2.organization_id = v_org.organization_id and r2.status = 'open' and r2.expires_at <= p_now
        order by r2.id
        for update
      )
      and r.status is not distinct from 'open'
      returning r.amount_credits
    )
    select count(*), coalesce(sum(amount_credits), 0) into v_n, v_held from expired;
    if v_n > 0 then
      -- expire_due_grants needs the ledger lock, the holds and the balance row.
      perform ledger.lock_organization(v_org.organization_id);
      update public.credit_balances
      set released_credits = released_credits + v_held, updated_at = p_now
      where organization_id = v_org.organization_id;
      perform ledger.expire_due_grants(v_org.organization_id, p_now);
      v_count := v_count + v_n;
    end if;
  end loop;
  return v_count;
end;
$$;

create or replace function public.expire_grants(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org record;
begin
  for v_org in
    select distinct g.organization_id from public.credit_grants g
    where g.expired_at is null and g.expires_at <= p_now
    order by g.organization_id
  loop
    perform ledger.lock_organization(v_org.organization_id);
    v_count := v_count + ledger.expire_due_grants(v_org.organization_id, p_now);
  end loop;
  return v_count;
end;
$$;

create or replace function public.roll_billing_periods(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_org record;
  v_count integer := 0;
begin
  for v_org in
    select s.organization_id from public.organization_subscriptions s
    join public.plans p on p.id = s.plan_id
    where s.current_period_end <= p_now
       or (s.status = 'active' and p.monthly_allowance_credits > 0 and not exists (
         select 1 from public.credit_grants g
         where g.organization_id = s.organization_id and g.external_ref = public.allowance_ref(s.current_period_start)))
    order by s.organization_id
  loop
    perform public.roll_billing_period(v_org.organization_id, p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

drop function public.roll_billing_periods_due(timestamptz, uuid, integer);
drop function public.expire_grants_due(timestamptz, uuid, integer);
drop function public.expire_reservations_due(timestamptz, uuid, integer);
