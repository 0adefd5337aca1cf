-- Why: apply_plan_change took a new period's start as the subscription's billing anchor, which is
-- right only when that period is a whole month. After a shorter first period (a trial, or a billing
-- cycle anchor set in Stripe's Dashboard) Stripe's monthly cycle starts at that period's end: a
-- period 2027-01-20 .. 2027-02-01 was rolled to 02-01 .. 03-20, seven weeks, and then ended on the
-- 20th each month while Stripe billed on the 1st. The anchor is now the period's end when the period
-- is not a whole month. Nothing else in apply_plan_change changes; roll_billing_period's comment no
-- longer says "one month each".
--
-- Example: apply_plan_change(O, pro, 'sub_1', '2027-01-20 10:00', '2027-02-01 00:00'): anchor
-- 2027-02-01 00:00; rolled on 2 February the period becomes 02-01 .. 03-01, then 03-01 .. 04-01.
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
      -- A whole month (start + 1 month = end, in UTC) anchors at its start; a shorter first period
      -- (a trial, a cycle anchor set in Stripe) at its end, where Stripe's monthly cycle begins.
      billing_anchor_at = case
        when p_period_start is null then s.billing_anchor_at
        when p_period_end is null
          or ((p_period_start at time zone 'UTC') + interval '1 month') at time zone 'UTC' = p_period_end then p_period_start
        else p_period_end end,
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


comment on function public.roll_billing_period(uuid, timestamptz) is
  'Starts the organization''s next billing period(s) when the current one has ended, each ending a whole number of months after the subscription''s anchor (billing_anchor_at), applying a pending plan change or a cancellation (back to free) due at that period end, then grants the current period''s allowance once. Idempotent.';
