-- Why: a billing period ended one month after the previous period's end, so periods drifted from
-- Stripe's: a subscription started on 31 January had periods ending 28 February, 28 March, 28 April,
-- where Stripe bills on 28 February, 31 March, 30 April. The allowance then expired, the next one was
-- granted and a cancellation at the period end was applied up to three days early. Periods are now
-- counted from the subscription's anchor (billing_anchor_at, the start of its first period): period
-- n ends n months after the anchor, in UTC, on the anchor's day or the last day of a shorter month,
-- as Stripe computes them. apply_plan_change sets the anchor when it is given a new period (a new
-- subscription, a return to free); a subscription without one counts from its current period's
-- start, and the roll records that as its anchor.
--
-- Example: anchor 2027-01-31 10:00 UTC, period 2027-01-31 .. 2027-02-28 10:00. Rolled on 1 March:
-- 2027-02-28 .. 2027-03-31 (before: .. 2027-03-28); on 1 April: 2027-03-31 .. 2027-04-30.

alter table public.organization_subscriptions add column billing_anchor_at timestamptz;
comment on column public.organization_subscriptions.billing_anchor_at is
  'When the subscription''s first monthly period began: period n ends n months after it (UTC; the month''s last day when the anchor''s day does not exist), as Stripe bills. Null: counted from the current period''s start, which the next roll records here.';

-- Example: org O on pro, period 2026-10-22 .. 2026-11-22, a downgrade to free pending at
-- 2026-11-22. roll_billing_period(O, '2026-11-22 10:00') moves the period to 2026-11-22 ..
-- 2026-12-22, applies the free plan, and grants free's 10 credits (ref plan_allowance:2026-11-22).
create or replace function public.roll_billing_period(p_org_id uuid, p_now timestamptz default now())
returns public.organization_subscriptions
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_free uuid;
  v_anchor timestamp;
  v_months int;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id for update;
  if not found then
    return null;
  end if;
  -- Periods are counted from the anchor, in UTC, as Stripe bills: each ends a whole number of
  -- months after it, on the anchor's day or the month's last day when that day does not exist.
  v_anchor := coalesce(v_sub.billing_anchor_at, v_sub.current_period_start) at time zone 'UTC';
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
    v_months := (extract(year from v_sub.current_period_start at time zone 'UTC') - extract(year from v_anchor)) * 12
      + extract(month from v_sub.current_period_start at time zone 'UTC') - extract(month from v_anchor) + 1;
    v_sub.current_period_end := (v_anchor + make_interval(months => v_months)) at time zone 'UTC';
    if v_sub.current_period_end <= v_sub.current_period_start then
      -- An anchor later than the period (written by hand): count from this period instead.
      v_anchor := v_sub.current_period_start at time zone 'UTC';
      v_sub.current_period_end := (v_anchor + interval '1 month') at time zone 'UTC';
    end if;
  end loop;
  update public.organization_subscriptions s
  set plan_id = v_sub.plan_id, pending_plan_id = v_sub.pending_plan_id, pending_change_at = v_sub.pending_change_at,
      stripe_schedule_id = v_sub.stripe_schedule_id, stripe_subscription_id = v_sub.stripe_subscription_id,
      cancel_at_period_end = v_sub.cancel_at_period_end,
      current_period_start = v_sub.current_period_start, current_period_end = v_sub.current_period_end,
      billing_anchor_at = v_anchor at time zone 'UTC',
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
      billing_anchor_at = case when p_period_start is not null then p_period_start else s.billing_anchor_at end,
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

