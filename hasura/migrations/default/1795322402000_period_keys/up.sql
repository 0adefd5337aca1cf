-- Why: a billing period was taken for the one before it when both started on the same UTC day, and
-- get_credit_balance's buckets did not add up to its balance while a hold kept part of an expired grant.
--
-- 1. A billing period was identified by the UTC date of its start: its allowance grant was
--    plan_allowance:<YYYY-MM-DD>, an upgrade's difference plan_upgrade:<YYYY-MM-DD>:<plan>, its
--    usage notifications usage:<YYYY-MM-DD>:<pct> and low_balance:<YYYY-MM-DD>:<threshold>. A
--    period that starts on the same UTC day as the one before (a checkout, or a subscription that
--    ends, on the day the previous period began) was taken for that one: its allowance was reduced
--    by the previous period's and its notifications were taken as sent.
--    Example: a free org whose period began 2026-11-01 00:00 (10 granted, plan_allowance:2026-11-01)
--    checks out Pro at 2026-11-01 15:00. Before: 490 granted (plan_upgrade:2026-11-01:<pro>), 500
--    available, where the same checkout on 2 November grants 500 (510 available); and after 92 %
--    of Pro's allowance used, no 80 % notification, since usage:2026-11-01:80 was the Free
--    period's. Now: 500 granted (plan_allowance:2026-11-01T15:00:00Z) and usage:2026-11-01T15:00:00Z:80.
--    A period is now identified by its start instant (ledger.period_key): the date alone when it
--    starts at 00:00:00 UTC, as before (so nothing written for such a period changes meaning),
--    else the UTC instant, 2026-11-01T15:00:00Z (with microseconds when it has any). Refs and keys
--    written before, date-only for a period that does not start at midnight, still count for the
--    period they were written in: a date-only one of that period's start date written at or after
--    its start (ledger.allowance_of_period for grants; notify_usage_thresholds for its keys), so a
--    period current when this migration runs is neither granted nor notified twice. One that got
--    only an upgrade's difference through this bug (490 of Pro's 500) is due for the roll job,
--    which grants what is missing (10, plan_allowance:<period key>).
-- 2. get_credit_balance corrected its buckets for grants past expiry only when all of them would
--    expire; while an open hold kept part back the buckets still held all of it, and did not add
--    up to the balance. It now takes the expiring credits from the due grants in the order
--    ledger.expire_due_grants expires them, so it shows what the expiry would leave (the view
--    organization_credit_balances reads it at now()).
--    Example (docs/ledger.md, expiry with a hold): bonus 10 expiring 12:01:40, 8 reserved at 12:00.
--    At 12:03:20, before: bonus 10.000 with balance 8.000; the expiry job at that instant leaves
--    bonus 8.000. Now: bonus 8.000, balance 8.000.

create function ledger.period_key(p_period_start timestamptz) returns text
  language sql immutable parallel safe set search_path = '' as $$
  select case
    when t = date_trunc('day', t) then to_char(t, 'YYYY-MM-DD')
    when t = date_trunc('second', t) then to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    else to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  end
  from (select p_period_start at time zone 'UTC' as t) s
$$;
comment on function ledger.period_key(timestamptz) is
  'A billing period''s key in refs and dedupe keys, from its start: YYYY-MM-DD when it starts at 00:00:00 UTC, else the UTC instant (YYYY-MM-DDTHH:MI:SSZ, microseconds when it has any). Two periods never share one.';

-- Example: the period starting 2026-11-01 15:00 UTC. plan_allowance:2026-11-01T15:00:00Z and
-- plan_upgrade:2026-11-01T15:00:00Z:<plan> are its grants; plan_allowance:2026-11-01 is too when
-- it was written at or after 15:00 (before 1795322402000), not when the Free period that began at
-- midnight wrote it.
create function ledger.allowance_of_period(p_external_ref text, p_created_at timestamptz, p_period_start timestamptz)
returns boolean
  language sql immutable parallel safe set search_path = '' as $$
  select p_external_ref = 'plan_allowance:' || k.key or p_external_ref like 'plan_upgrade:' || k.key || ':%'
    or (k.key <> k.day and p_created_at >= p_period_start
      and (p_external_ref = 'plan_allowance:' || k.day or p_external_ref like 'plan_upgrade:' || k.day || ':%'))
  from (select ledger.period_key(p_period_start) as key, to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD') as day) k
$$;
comment on function ledger.allowance_of_period(text, timestamptz, timestamptz) is
  'Whether a plan_allowance grant (its external_ref and created_at) is of the period starting at p_period_start: plan_allowance:<period key> or plan_upgrade:<period key>:<plan>, or the date-only form of a period not starting at midnight UTC written at or after its start (before 1795322402000).';

create or replace function public.allowance_ref(p_period_start timestamptz) returns text
  language sql immutable set search_path = '' as $$
  select 'plan_allowance:' || ledger.period_key(p_period_start);
$$;
comment on function public.allowance_ref(timestamptz) is
  'The external_ref of a period''s allowance grant, plan_allowance:<period key> (ledger.period_key of the period start: YYYY-MM-DD at 00:00:00 UTC, else the UTC instant): one grant per organization and period.';

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
comment on function public.grant_period_allowance(uuid, timestamptz) is
  'Grants what is missing of the plan''s monthly allowance for the current period of an active subscription (priority 0, expiring at the period end): the whole allowance once (ref plan_allowance:<period key>), or an upgrade''s difference (ref plan_upgrade:<period key>:<plan>); the period key is ledger.period_key of its start. Returns the credits granted; 0 when nothing was missing. The caller holds the subscription row.';

create or replace function public.revoke_period_allowance(p_org_id uuid, p_reason text, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_grant public.credit_grants;
  v_taken numeric(20, 3) := 0;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found then
    return 0;
  end if;
  -- The ledger lock first, so that what remains is read after every settle before us.
  perform ledger.lock_organization(p_org_id);
  for v_grant in
    select * from public.credit_grants g
    where g.organization_id = p_org_id and g.source = 'plan_allowance' and g.expired_at is null and g.remaining_credits > 0
      and g.expires_at > p_now
      and ledger.allowance_of_period(g.external_ref, g.created_at, v_sub.current_period_start)
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

-- Due without the period's allowance grant: plan_allowance:<period key>, or its date-only form
-- written in the period before 1795322402000 (both probes of the (organization, ref) key).
create or replace function public.roll_billing_periods_due(p_now timestamptz, p_after uuid default null, p_limit integer default null)
returns setof uuid
  language sql stable set search_path = '' as $$
  select s.organization_id from public.organization_subscriptions s
  join public.plans p on p.id = s.plan_id
  where (s.current_period_end <= p_now
     or (s.status = 'active' and p.monthly_allowance_credits > 0 and not exists (
       select 1 from public.credit_grants g
       where g.organization_id = s.organization_id
         and g.external_ref in (public.allowance_ref(s.current_period_start),
           'plan_allowance:' || to_char(s.current_period_start at time zone 'UTC', 'YYYY-MM-DD'))
         and ledger.allowance_of_period(g.external_ref, g.created_at, s.current_period_start))))
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
      ledger.period_key(s.current_period_start) as period_key,
      to_char(s.current_period_start at time zone 'UTC', 'YYYY-MM-DD') as period_day
    from public.organization_subscriptions s
    where s.current_period_start <= p_now and p_now < s.current_period_end
  ), allowance_use as (
    select pr.organization_id, pr.current_period_start, pr.period_key, pr.period_day, sum(g.amount_credits) as granted, sum(coalesce((
      select -sum(e.amount_credits) from public.credit_ledger_entries e
      where e.grant_id = g.id and e.entry_type = 'consume'), 0)) as used
    from periods pr
    join public.credit_grants g on g.organization_id = pr.organization_id and g.source = 'plan_allowance'
      and ledger.allowance_of_period(g.external_ref, g.created_at, pr.current_period_start)
    group by pr.organization_id, pr.current_period_start, pr.period_key, pr.period_day
  ), passed as (
    select u.organization_id, u.current_period_start, u.period_key, u.period_day, t.pct, u.used, u.granted,
      t.pct = max(t.pct) over (partition by u.organization_id) as highest
    from allowance_use u cross join (values (50), (80), (100)) as t(pct)
    where u.granted > 0 and u.used * 100 >= u.granted * t.pct
  ), low as (
    select st.organization_id, pr.current_period_start, pr.period_key, pr.period_day, st.threshold_credits, b.available_credits
    from public.auto_topup_settings st
    join periods pr on pr.organization_id = st.organization_id
    cross join lateral public.get_credit_balance(st.organization_id, p_now) b
    where st.threshold_credits > 0 and b.available_credits < st.threshold_credits
  ), candidates as (
    select p.organization_id, 'usage_threshold'::text as kind,
      format('%s%% of this period''s allowance used', p.pct) as title,
      format('%s of %s allowance credits used since %s.', ledger.format_credits(p.used), ledger.format_credits(p.granted), p.period_day) as body,
      format('usage:%s:%s', p.period_key, p.pct) as dedupe_key,
      -- The date-only key written before 1795322402000 for a period not starting at midnight.
      case when p.period_key <> p.period_day then format('usage:%s:%s', p.period_day, p.pct) end as legacy_key,
      p.current_period_start,
      case when p.highest then null else p_now end as read_at
    from passed p
    union all
    select l.organization_id, 'low_balance', 'Credits below your auto top-up threshold',
      format('%s credits available, below the threshold of %s.', ledger.format_credits(l.available_credits),
        ledger.format_credits(l.threshold_credits)),
      format('low_balance:%s:%s', l.period_key, l.threshold_credits),
      case when l.period_key <> l.period_day then format('low_balance:%s:%s', l.period_day, l.threshold_credits) end,
      l.current_period_start, null::timestamptz
    from low l
  )
  insert into public.notifications as n (organization_id, kind, title, body, action_url, dedupe_key, read_at, created_at)
  select c.organization_id, c.kind, c.title, c.body, '/credits', c.dedupe_key, c.read_at, p_now from candidates c
  where not exists (
    select 1 from public.notifications o
    where o.organization_id = c.organization_id and o.dedupe_key = c.legacy_key and o.created_at >= c.current_period_start)
  on conflict (organization_id, dedupe_key) do nothing
  returning n.*;
end;
$$;

-- Reads the maintained row and corrects it, without writing, for grants already past expiry that
-- no call has expired yet (the same rule as ledger.expire_due_grants): the expiring credits are
-- taken from the due grants in its order, so the buckets are what it would leave.
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
    -- each due grant with what the grants before it in expiry order hold
    select ledger.bucket_of(g.source) as bucket, g.remaining_credits,
      coalesce(sum(g.remaining_credits) over (
        order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id
        rows between unbounded preceding and 1 preceding), 0) as ahead
    from public.credit_grants g
    where g.organization_id = p_org_id and g.remaining_credits > 0 and g.expires_at <= p_now
  ),
  corrected as (
    select b.*, e.expiring, x.allowance, x.purchased, x.bonus
    from b
    -- how much of the due credits would expire now (held credits wait)
    cross join lateral (
      select least(coalesce(sum(d.remaining_credits), 0), greatest(0, b.balance - b.reserved_credits)) as expiring from due d
    ) e
    -- and from which buckets: each due grant in order gives what it holds of what is left to expire
    cross join lateral (
      select
        coalesce(sum(least(d.remaining_credits, greatest(0, e.expiring - d.ahead))) filter (where d.bucket = 'allowance'), 0) as allowance,
        coalesce(sum(least(d.remaining_credits, greatest(0, e.expiring - d.ahead))) filter (where d.bucket = 'purchased'), 0) as purchased,
        coalesce(sum(least(d.remaining_credits, greatest(0, e.expiring - d.ahead))) filter (where d.bucket = 'bonus'), 0) as bonus
      from due d
    ) x
  ),
  next_expiry as (
    select g.expires_at, sum(g.remaining_credits) as credits
    from public.credit_grants g
    where g.organization_id = p_org_id and g.remaining_credits > 0 and g.expires_at > p_now
    group by g.expires_at
    order by g.expires_at
    limit 1
  )
  select
    c.organization_id,
    c.allowance_remaining_credits - c.allowance,
    c.purchased_remaining_credits - c.purchased,
    c.bonus_remaining_credits - c.bonus,
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
