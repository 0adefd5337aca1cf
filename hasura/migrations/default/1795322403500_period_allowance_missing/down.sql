-- Why: undo 1795322403500_period_allowance_missing: grant_period_allowance as
-- 1795322402000_period_keys wrote it, then the new function dropped.

create or replace function public.grant_period_allowance(p_org_id uuid, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_plan public.plans;
  v_granted numeric(20, 3);
  v_whole boolean;
  v_missing numeric(20, 3);
  v_key text;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found or v_sub.status <> 'active' or v_sub.current_period_start > p_now or v_sub.current_period_end <= p_now then
    return 0;
  end if;
  select * into v_plan from public.plans where id = v_sub.plan_id;
  v_key := ledger.period_key(v_sub.current_period_start);
  select coalesce(sum(g.amount_credits), 0), coalesce(bool_or(g.external_ref like 'plan_allowance:%'), false)
  into v_granted, v_whole
  from public.credit_grants g
  where g.organization_id = p_org_id and g.source = 'plan_allowance'
    and ledger.allowance_of_period(g.external_ref, g.created_at, v_sub.current_period_start);
  v_missing := v_plan.monthly_allowance_credits - v_granted;
  if v_missing <= 0 then
    return 0;
  end if;
  perform public.grant_credits(p_org_id, v_missing, 'plan_allowance',
    -- The period's first grant is its allowance (plan_allowance:<key>). A period that has only an
    -- upgrade's difference (written before 1795322402000 next to a grant of the period before it on
    -- the same day) gets what is missing under that ref too, so the roll job finds it.
    case when not v_whole then public.allowance_ref(v_sub.current_period_start) else format('plan_upgrade:%s:%s', v_key, v_plan.id) end,
    p_expires_at => v_sub.current_period_end, p_priority => 0,
    p_effective_at => least(v_sub.current_period_start, p_now),
    p_description => format('%s allowance', v_plan.name),
    p_metadata => jsonb_build_object('plan_id', v_plan.id, 'period_start', v_sub.current_period_start),
    p_now => p_now);
  return v_missing;
end;
$$;

drop function ledger.period_allowance_missing(uuid, timestamptz, numeric);
