-- Why: the plan-change preview (the api's previewPlanChange) repeated grant_period_allowance's
-- arithmetic in TypeScript: this period's allowance grants added up, and the target plan's
-- allowance less that sum. A change to one could make the preview promise credits the change does
-- not grant. Both now ask ledger.period_allowance_missing. What grant_period_allowance grants, and
-- under which reference, is unchanged.
--
-- Example: a Pro period (500 credits) whose allowance grant was 500; moving to Team (2,000):
-- ledger.period_allowance_missing(org, period start, 2000) -> 1500.000, which the preview shows and
-- the upgrade's grant_period_allowance grants.

create function ledger.period_allowance_missing(p_org_id uuid, p_period_start timestamptz, p_allowance numeric)
returns numeric
  language sql stable set search_path = '' as $$
  select greatest(p_allowance - coalesce(sum(g.amount_credits), 0), 0)::numeric(20, 3)
  from public.credit_grants g
  where g.organization_id = p_org_id and g.source = 'plan_allowance'
    and ledger.allowance_of_period(g.external_ref, g.created_at, p_period_start);
$$;
comment on function ledger.period_allowance_missing(uuid, timestamptz, numeric) is
  'What an allowance of p_allowance credits lacks in the period starting at p_period_start: p_allowance less the organization''s plan_allowance grants of that period (the whole allowance and upgrades'' differences, ledger.allowance_of_period), never below 0. grant_period_allowance grants it; the plan-change preview shows it.';

create or replace function public.grant_period_allowance(p_org_id uuid, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_plan public.plans;
  v_whole boolean;
  v_missing numeric(20, 3);
  v_key text;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found or v_sub.status <> 'active' or v_sub.current_period_start > p_now or v_sub.current_period_end <= p_now then
    return 0;
  end if;
  select * into v_plan from public.plans where id = v_sub.plan_id;
  v_missing := ledger.period_allowance_missing(p_org_id, v_sub.current_period_start, v_plan.monthly_allowance_credits);
  if v_missing <= 0 then
    return 0;
  end if;
  v_key := ledger.period_key(v_sub.current_period_start);
  v_whole := exists (
    select 1 from public.credit_grants g
    where g.organization_id = p_org_id and g.source = 'plan_allowance' and g.external_ref like 'plan_allowance:%'
      and ledger.allowance_of_period(g.external_ref, g.created_at, v_sub.current_period_start));
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
