-- Why: undo 1795322401800_notification_credit_numbers: notify_usage_thresholds as
-- 1795322401600_usage_counts_consumption made it, and no ledger.format_credits.
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
      format('%s of %s allowance credits used since %s.', p.used, p.granted, p.period_key) as body,
      format('usage:%s:%s', p.period_key, p.pct) as dedupe_key,
      case when p.highest then null else p_now end as read_at
    from passed p
    union all
    select l.organization_id, 'low_balance', 'Credits below your auto top-up threshold',
      format('%s credits available, below the threshold of %s.', l.available_credits, l.threshold_credits),
      format('low_balance:%s:%s', l.period_key, l.threshold_credits), null::timestamptz
    from low l
  )
  insert into public.notifications as n (organization_id, kind, title, body, action_url, dedupe_key, read_at, created_at)
  select c.organization_id, c.kind, c.title, c.body, '/credits', c.dedupe_key, c.read_at, p_now from candidates c
  on conflict (organization_id, dedupe_key) do nothing
  returning n.*;
end;
$$;

drop function ledger.format_credits(numeric);
