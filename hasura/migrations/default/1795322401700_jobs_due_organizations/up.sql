-- Why: a review of 1795322401400_jobs_per_organization: the organizations each job is due for were
-- chosen twice, by the global functions' loops and by the api's batched jobs, and the global
-- loops' bodies were copies of the new per-organization steps. Now one set-returning function per
-- job says which organizations are due (in id order, after a given one, up to a limit); the api
-- pages through it, and the global functions loop over it calling the per-organization steps.
-- What each job does is unchanged.

create function public.expire_reservations_due(p_now timestamptz, p_after uuid default null, p_limit integer default null)
returns setof uuid
  language sql stable set search_path = '' as $$
  select distinct r.organization_id from public.credit_reservations r
  where r.status = 'open' and r.expires_at <= p_now and (p_after is null or r.organization_id > p_after)
  order by r.organization_id
  limit p_limit
$$;
comment on function public.expire_reservations_due(timestamptz, uuid, integer) is
  'The organizations with open reservations past expires_at at p_now, in id order, after p_after, up to p_limit (null: all): those expire_reservations is due for.';

create function public.expire_grants_due(p_now timestamptz, p_after uuid default null, p_limit integer default null)
returns setof uuid
  language sql stable set search_path = '' as $$
  select distinct g.organization_id from public.credit_grants g
  where g.expired_at is null and g.expires_at <= p_now and (p_after is null or g.organization_id > p_after)
  order by g.organization_id
  limit p_limit
$$;
comment on function public.expire_grants_due(timestamptz, uuid, integer) is
  'The organizations with grants past expires_at not yet expired at p_now, in id order, after p_after, up to p_limit (null: all): those expire_grants is due for.';

create function public.roll_billing_periods_due(p_now timestamptz, p_after uuid default null, p_limit integer default null)
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
comment on function public.roll_billing_periods_due(timestamptz, uuid, integer) is
  'The organizations whose period has ended at p_now, or that are active without this period''s allowance, in id order, after p_after, up to p_limit (null: all): those roll_billing_periods is due for.';

create or replace function public.expire_reservations(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org uuid;
begin
  for v_org in select d from public.expire_reservations_due(p_now) d loop
    v_count := v_count + public.expire_organization_reservations(v_org, p_now);
  end loop;
  return v_count;
end;
$$;

create or replace function public.expire_grants(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org uuid;
begin
  for v_org in select d from public.expire_grants_due(p_now) d loop
    v_count := v_count + public.expire_organization_grants(v_org, p_now);
  end loop;
  return v_count;
end;
$$;

create or replace function public.roll_billing_periods(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org uuid;
begin
  for v_org in select d from public.roll_billing_periods_due(p_now) d loop
    perform public.roll_billing_period(v_org, p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
