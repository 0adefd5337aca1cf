-- Why: undo 1795322401100_billing_anchor_short_first_period: apply_plan_change as
-- 1795322400700_billing_anchor made it, and roll_billing_period's comment as before.
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


comment on function public.roll_billing_period(uuid, timestamptz) is
  'Starts the organization''s next billing period(s) when the current one has ended (one month each), applying a pending plan change or a cancellation (back to free) due at that period end, then grants the current period''s allowance once. Idempotent.';
