-- Why: undo 1795322400700_billing_anchor: roll_billing_period and apply_plan_change as
-- 1795322400100_payments made them, and no billing_anchor_at.
create or replace function public.roll_billing_period(p_org_id uuid, p_now timestamptz default now())
returns public.organization_subscriptions
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_free uuid;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id for update;
  if not found then
    return null;
  end if;
  while v_sub.current_period_end <= p_now loop
    if v_sub.pending_plan_id is not null and v_sub.pending_change_at <= v_sub.current_period_end then
      v_sub.plan_id := v_sub.pending_plan_id;
      v_sub.pending_plan_id := null;
      v_sub.pending_change_at := null;
      v_sub.stripe_schedule_id := null;
      if v_sub.cancel_at_period_end then
        v_sub.stripe_subscription_id := null;
        v_sub.cancel_at_period_end := false;
      end if;
    elsif v_sub.cancel_at_period_end then
      select id into v_free from public.plans where code = 'free' and is_active;
      v_sub.plan_id := coalesce(v_free, v_sub.plan_id);
      v_sub.stripe_subscription_id := null;
      v_sub.cancel_at_period_end := false;
    end if;
    v_sub.current_period_start := v_sub.current_period_end;
    v_sub.current_period_end := v_sub.current_period_end + interval '1 month';
  end loop;
  update public.organization_subscriptions s
  set plan_id = v_sub.plan_id, pending_plan_id = v_sub.pending_plan_id, pending_change_at = v_sub.pending_change_at,
      stripe_schedule_id = v_sub.stripe_schedule_id, stripe_subscription_id = v_sub.stripe_subscription_id,
      cancel_at_period_end = v_sub.cancel_at_period_end,
      current_period_start = v_sub.current_period_start, current_period_end = v_sub.current_period_end,
      updated_at = p_now
  where s.organization_id = p_org_id and (s.current_period_end is distinct from v_sub.current_period_end)
  returning * into v_sub;
  if not found then
    select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  end if;
  perform public.grant_period_allowance(p_org_id, p_now);
  return v_sub;
end;
$$;


create or replace function public.apply_plan_change(
  p_org_id uuid,
  p_plan_id uuid,
  p_stripe_subscription_id text default null,
  p_period_start timestamptz default null,
  p_period_end timestamptz default null,
  p_now timestamptz default now()
) returns public.organization_subscriptions
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
begin
  if not exists (select 1 from public.plans where id = p_plan_id) then
    perform ledger.raise_error('INVALID_INPUT', format('no plan %s', p_plan_id), jsonb_build_object('field', 'plan_id', 'value', p_plan_id));
  end if;
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id for update;
  if not found then
    perform ledger.raise_error('ORGANIZATION_NOT_FOUND', format('org %s has no subscription', p_org_id), jsonb_build_object('organization_id', p_org_id));
  end if;
  update public.organization_subscriptions s
  set plan_id = p_plan_id,
      status = 'active',
      pending_plan_id = null, pending_change_at = null, stripe_schedule_id = null, cancel_at_period_end = false,
      stripe_subscription_id = coalesce(p_stripe_subscription_id, s.stripe_subscription_id),
      current_period_start = coalesce(p_period_start, s.current_period_start),
      current_period_end = coalesce(p_period_end, s.current_period_end),
      updated_at = p_now
  where s.organization_id = p_org_id
    and (s.plan_id <> p_plan_id or s.pending_plan_id is not null or s.status <> 'active'
      or s.stripe_subscription_id is distinct from coalesce(p_stripe_subscription_id, s.stripe_subscription_id)
      or (p_period_start is not null and s.current_period_start <> p_period_start))
  returning * into v_sub;
  perform public.grant_period_allowance(p_org_id, p_now);
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  return v_sub;
end;
$$;

alter table public.organization_subscriptions drop column billing_anchor_at;
