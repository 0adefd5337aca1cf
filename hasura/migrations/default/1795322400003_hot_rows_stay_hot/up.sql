-- Why: on a busy organization the same few rows are updated on every call: its credit_balances
-- row, the grant being drawn from, its usage row for the day. Postgres can update such a row in
-- place on its page (a HOT update, no new index entries) only when no indexed column changes and
-- the page has room. The partial indexes on `remaining_credits > 0` made every settle change an
-- indexed column of the grant, so each one added entries to five indexes, and lookups had to step
-- over the growing number of dead entries while concurrent transactions kept them from being
-- cleaned up. Here: grant indexes no longer depend on remaining_credits (the sweep's index depends
-- on expired_at, which changes once per grant), and the hot tables leave room on each page.

drop index public.credit_grants_burn_order_idx;
drop index public.credit_grants_expiry_idx;
drop index public.credit_grants_due_idx;

-- Burn order: plan allowance first, then priority (lower first), then earliest expiry (never last),
-- then oldest, then id. Exhausted grants stay in the index; an organization has few grants.
create index credit_grants_burn_order_idx on public.credit_grants
  (organization_id, (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id);
-- An organization's grants by expiry: lazy expiry and the next expiry of the balance.
create index credit_grants_org_expires_idx on public.credit_grants (organization_id, expires_at) where expires_at is not null;
-- The sweep: grants that will expire and have not been marked expired yet.
create index credit_grants_due_idx on public.credit_grants (expires_at) where expired_at is null and expires_at is not null;

comment on column public.credit_grants.expired_at is
  'When the grant was found past its expiry: the expiry zeroed what remained (with an expire entry), or it was already used up.';

alter table public.credit_balances set (fillfactor = 50);
alter table public.credit_grants set (fillfactor = 80);
alter table public.organization_usage_daily set (fillfactor = 80);
alter table public.organization_rate_usage set (fillfactor = 50);

-- Same rule as before; also marks the organization's used-up grants that are past expiry, so the
-- sweep's index stops returning them.
create or replace function ledger.expire_due_grants(p_org_id uuid, p_now timestamptz) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_due numeric(20, 3);
  v_balance public.credit_balances;
  v_total numeric(20, 3);
  v_left numeric(20, 3);
  v_take numeric(20, 3);
  v_after numeric(20, 3);
  v_allowance numeric(20, 3) := 0;
  v_purchased numeric(20, 3) := 0;
  v_bonus numeric(20, 3) := 0;
  v_count integer := 0;
  g record;
begin
  select coalesce(sum(remaining_credits), 0) into v_due
  from public.credit_grants
  where organization_id = p_org_id and remaining_credits > 0 and expires_at <= p_now;
  select * into v_balance from public.credit_balances where organization_id = p_org_id;
  v_total := v_balance.allowance_remaining_credits + v_balance.purchased_remaining_credits + v_balance.bonus_remaining_credits;
  -- Credits held by open reservations stay until those resolve.
  v_left := least(v_due, greatest(0, v_total - v_balance.debt_credits - v_balance.reserved_credits));
  v_after := v_total - v_balance.debt_credits;
  if v_left > 0 then
    for g in
      select id, source, remaining_credits, external_ref
      from public.credit_grants
      where organization_id = p_org_id and remaining_credits > 0 and expires_at <= p_now
      order by (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id
    loop
      exit when v_left = 0;
      v_take := least(g.remaining_credits, v_left);
      update public.credit_grants
      set remaining_credits = remaining_credits - v_take,
          expired_at = case when remaining_credits = v_take then p_now else expired_at end,
          updated_at = p_now
      where id = g.id;
      v_after := v_after - v_take;
      insert into public.credit_ledger_entries
        (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, external_ref, description, created_at)
      values (p_org_id, 'expire', -v_take, v_after, g.id, g.external_ref, 'grant expired', p_now);
      case ledger.bucket_of(g.source)
        when 'allowance' then v_allowance := v_allowance + v_take;
        when 'purchased' then v_purchased := v_purchased + v_take;
        else v_bonus := v_bonus + v_take;
      end case;
      v_left := v_left - v_take;
      v_count := v_count + 1;
    end loop;
  end if;
  update public.credit_grants
  set expired_at = p_now, updated_at = p_now
  where organization_id = p_org_id and expires_at <= p_now and expired_at is null and remaining_credits = 0;
  update public.credit_balances
  set allowance_remaining_credits = allowance_remaining_credits - v_allowance,
      purchased_remaining_credits = purchased_remaining_credits - v_purchased,
      bonus_remaining_credits = bonus_remaining_credits - v_bonus,
      next_expiry_at = (
        select min(cg.expires_at) from public.credit_grants cg
        where cg.organization_id = p_org_id and cg.remaining_credits > 0 and cg.expires_at is not null
      ),
      updated_at = case when v_count > 0 then p_now else updated_at end
  where organization_id = p_org_id;
  return v_count;
end;
$$;

create or replace function public.expire_grants(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org record;
begin
  for v_org in
    select distinct g.organization_id from public.credit_grants g
    where g.expired_at is null and g.expires_at <= p_now
    order by g.organization_id
  loop
    perform 1 from public.credit_balances where organization_id = v_org.organization_id for update;
    v_count := v_count + ledger.expire_due_grants(v_org.organization_id, p_now);
  end loop;
  return v_count;
end;
$$;
