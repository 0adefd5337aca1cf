-- Why: undo 1795322402000_period_keys: allowance_ref and grant_period_allowance as
-- 1795322400100_payments made them, revoke_period_allowance as 1795322400800_unpaid_period_allowance,
-- roll_billing_periods_due as 1795322401700_jobs_due_organizations, notify_usage_thresholds as
-- 1795322401800_notification_credit_numbers, get_credit_balance as 1795322400001_ledger_functions;
-- ledger.allowance_of_period and ledger.period_key dropped.
create or replace function public.allowance_ref(p_period_start timestamptz) returns text
  language sql immutable set search_path = '' as $$
  select 'plan_allowance:' || to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD');
$$;
comment on function public.allowance_ref(timestamptz) is
  'The external_ref of a period''s allowance grant, plan_allowance:YYYY-MM-DD of the period start (UTC): one grant per organization and period.';

-- Grants what is missing of the plan's allowance for the subscription's current period: the whole
-- allowance as plan_allowance:<start>, or after an upgrade the difference as plan_upgrade:<start>:<plan>.
create or replace function public.grant_period_allowance(p_org_id uuid, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_plan public.plans;
  v_granted numeric(20, 3);
  v_missing numeric(20, 3);
  v_ref text;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found or v_sub.status <> 'active' or v_sub.current_period_start > p_now or v_sub.current_period_end <= p_now then
    return 0;
  end if;
  select * into v_plan from public.plans where id = v_sub.plan_id;
  v_ref := public.allowance_ref(v_sub.current_period_start);
  select coalesce(sum(g.amount_credits), 0) into v_granted from public.credit_grants g
  where g.organization_id = p_org_id and g.source = 'plan_allowance'
    and (g.external_ref = v_ref or g.external_ref like 'plan_upgrade:' || substr(v_ref, 16) || ':%');
  v_missing := v_plan.monthly_allowance_credits - v_granted;
  if v_missing <= 0 then
    return 0;
  end if;
  perform public.grant_credits(p_org_id, v_missing, 'plan_allowance',
    case when v_granted = 0 then v_ref else format('plan_upgrade:%s:%s', substr(v_ref, 16), v_plan.id) end,
    p_expires_at => v_sub.current_period_end, p_priority => 0,
    p_effective_at => least(v_sub.current_period_start, p_now),
    p_description => format('%s allowance', v_plan.name),
    p_metadata => jsonb_build_object('plan_id', v_plan.id, 'period_start', v_sub.current_period_start),
    p_now => p_now);
  return v_missing;
end;
$$;
comment on function public.grant_period_allowance(uuid, timestamptz) is
  'Grants what is missing of the plan''s monthly allowance for the current period of an active subscription (priority 0, expiring at the period end): the whole allowance once (ref plan_allowance:<start>), or an upgrade''s difference (ref plan_upgrade:<start>:<plan>). Returns the credits granted; 0 when nothing was missing. The caller holds the subscription row.';

create or replace function public.revoke_period_allowance(p_org_id uuid, p_reason text, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_ref text;
  v_grant public.credit_grants;
  v_taken numeric(20, 3) := 0;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found then
    return 0;
  end if;
  v_ref := public.allowance_ref(v_sub.current_period_start);
  -- The ledger lock first, so that what remains is read after every settle before us.
  perform ledger.lock_organization(p_org_id);
  for v_grant in
    select * from public.credit_grants g
    where g.organization_id = p_org_id and g.source = 'plan_allowance' and g.expired_at is null and g.remaining_credits > 0
      and g.expires_at > p_now
      and (g.external_ref = v_ref or g.external_ref like 'plan_upgrade:' || substr(v_ref, 16) || ':%')
      and not exists (
        select 1 from public.credit_ledger_entries e
        where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.external_ref = 'unpaid_period:' || g.id)
    order by g.created_at, g.id
  loop
    perform public.clawback_credits(p_org_id, v_grant.remaining_credits, 'unpaid_period:' || v_grant.id, p_reason, v_grant.id, p_now);
    v_taken := v_taken + v_grant.remaining_credits;
  end loop;
  return v_taken;
end;
$$;

create or replace function public.roll_billing_periods_due(p_now timestamptz, p_after uuid default null, p_limit integer default null)
returns setof uuid
  language sql stable set search_path = '' as $$
  select s.organization_id from public.organization_subscriptions s
  join public.plans p on p.id = s.plan_id
  where (s.current_period_end <= p_now
     or (s.status = 'active' and p.monthly_allowance_credits > 0 and not exists (
       select 1 from public.credit_grants g
       where g.organization_id = s.organization_id and g.external_ref = public.allowance_ref(s.current_period_start))))
    and (p_after is null or s.organization_id > p_after)
  order by s.organization_id
  limit p_limit
$$;

create or replace function public.notify_usage_thresholds(p_now timestamptz default now()) returns setof public.notifications
  language plpgsql volatile set search_path = '' as $$
begin
  return query
  with periods as (
    select s.organization_id, s.current_period_start,
      to_char(s.current_period_start at time zone 'UTC', 'YYYY-MM-DD') as period_key
    from public.organization_subscriptions s
    where s.current_period_start <= p_now and p_now < s.current_period_end
  ), allowance_use as (
    select pr.organization_id, pr.period_key, sum(g.amount_credits) as granted, sum(coalesce((
      select -sum(e.amount_credits) from public.credit_ledger_entries e
      where e.grant_id = g.id and e.entry_type = 'consume'), 0)) as used
    from periods pr
    join public.credit_grants g on g.organization_id = pr.organization_id and g.source = 'plan_allowance'
      and (g.external_ref = 'plan_allowance:' || pr.period_key or g.external_ref like 'plan_upgrade:' || pr.period_key || ':%')
    group by pr.organization_id, pr.period_key
  ), passed as (
    select u.organization_id, u.period_key, t.pct, u.used, u.granted,
      t.pct = max(t.pct) over (partition by u.organization_id) as highest
    from allowance_use u cross join (values (50), (80), (100)) as t(pct)
    where u.granted > 0 and u.used * 100 >= u.granted * t.pct
  ), low as (
    select st.organization_id, pr.period_key, st.threshold_credits, b.available_credits
    from public.auto_topup_settings st
    join periods pr on pr.organization_id = st.organization_id
    cross join lateral public.get_credit_balance(st.organization_id, p_now) b
    where st.threshold_credits > 0 and b.available_credits < st.threshold_credits
  ), candidates as (
    select p.organization_id, 'usage_threshold'::text as kind,
      format('%s%% of this period''s allowance used', p.pct) as title,
      format('%s of %s allowance credits used since %s.', ledger.format_credits(p.used), ledger.format_credits(p.granted), p.period_key) as body,
      format('usage:%s:%s', p.period_key, p.pct) as dedupe_key,
      case when p.highest then null else p_now end as read_at
    from passed p
    union all
    select l.organization_id, 'low_balance', 'Credits below your auto top-up threshold',
      format('%s credits available, below the threshold of %s.', ledger.format_credits(l.available_credits),
        ledger.format_credits(l.threshold_credits)),
      format('low_balance:%s:%s', l.period_key, l.threshold_credits), null::timestamptz
    from low l
  )
  insert into public.notifications as n (organization_id, kind, title, body, action_url, dedupe_key, read_at, created_at)
  select c.organization_id, c.kind, c.title, c.body, '/credits', c.dedupe_key, c.read_at, p_now from candidates c
  on conflict (organization_id, dedupe_key) do nothing
  returning n.*;
end;
$$;

-- Reads the maintained row and corrects it, without writing, for grants already past expiry that
-- no call has expired yet (the same rule as ledger.expire_due_grants).
create or replace function public.get_credit_balance(p_org_id uuid, p_now timestamptz default now())
returns table (
  organization_id uuid,
  allowance_remaining_credits numeric(20, 3),
  purchased_remaining_credits numeric(20, 3),
  bonus_remaining_credits numeric(20, 3),
  debt_credits numeric(20, 3),
  reserved_credits numeric(20, 3),
  balance_credits numeric(20, 3),
  available_credits numeric(20, 3),
  next_expiry_at timestamptz,
  next_expiry_credits numeric(20, 3),
  updated_at timestamptz
)
  language sql stable set search_path = '' as $$
  with b as (
    select cb.*, ledger.balance_of(cb) as balance, ledger.reserved_in(h, cb) as reserved_credits
    from public.credit_balances cb join public.credit_holds h on h.organization_id = cb.organization_id
    where cb.organization_id = p_org_id
  ),
  due as (
    select
      coalesce(sum(g.remaining_credits), 0) as total,
      coalesce(sum(g.remaining_credits) filter (where ledger.bucket_of(g.source) = 'allowance'), 0) as allowance,
      coalesce(sum(g.remaining_credits) filter (where ledger.bucket_of(g.source) = 'purchased'), 0) as purchased,
      coalesce(sum(g.remaining_credits) filter (where ledger.bucket_of(g.source) = 'bonus'), 0) as bonus
    from public.credit_grants g
    where g.organization_id = p_org_id and g.remaining_credits > 0 and g.expires_at <= p_now
  ),
  next_expiry as (
    select g.expires_at, sum(g.remaining_credits) as credits
    from public.credit_grants g
    where g.organization_id = p_org_id and g.remaining_credits > 0 and g.expires_at > p_now
    group by g.expires_at
    order by g.expires_at
    limit 1
  ),
  corrected as (
    select b.*,
      -- how much of the due credits would expire now (held credits wait)
      least(due.total, greatest(0, b.balance - b.reserved_credits)) as expiring,
      due.total as due_total, due.allowance as due_allowance, due.purchased as due_purchased, due.bonus as due_bonus
    from b cross join due
  )
  select
    c.organization_id,
    c.allowance_remaining_credits - case when c.expiring = c.due_total then c.due_allowance else 0 end,
    c.purchased_remaining_credits - case when c.expiring = c.due_total then c.due_purchased else 0 end,
    c.bonus_remaining_credits - case when c.expiring = c.due_total then c.due_bonus else 0 end,
    c.debt_credits,
    c.reserved_credits,
    c.balance - c.expiring,
    c.balance - c.expiring - c.reserved_credits,
    n.expires_at,
    n.credits,
    c.updated_at
  from corrected c
  left join next_expiry n on true
$$;

drop function ledger.allowance_of_period(text, timestamptz, timestamptz);
drop function ledger.period_key(timestamptz);
