-- Why: a settle dated before the spend counter's UTC day (or month) left the counter as it was:
-- its charge was counted in no day at all. Two api replicas whose clocks differ by seconds, or one
-- whose clock is behind, made that routine around midnight: once a settle dated the new day had
-- moved the counter, every settle dated the old day was dropped, while reserves dated the old day
-- were checked against the new day's nearly empty counter. With a daily limit of 10 and 9 spent,
-- five calls of 9 credits went through at 23:59 (54 spent that day) once one settle dated 00:00:01
-- had run. Now such a settle is counted in the stored, later day or month, as a late reserve already
-- joins the later rate-limit window (1795322401900_time_boundaries): never counted nowhere, at the
-- price of the new day carrying a few seconds of the old one's charges. The counters still only
-- move forward.
--
-- Example: counter 2030-01-16 at 1.000 (a settle dated 00:00:01); a settle of 9 dated 2030-01-15
-- 23:59:50 -> before: counter stays 1.000; now: 10.000, and the next reserve of 9 is refused.

create or replace function public.settle_reservation(
  p_reservation_id uuid,
  p_actual_amount numeric,
  p_org_id uuid default null,
  p_usage jsonb default null,
  p_now timestamptz default now()
) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_org_id uuid;
  v_balance public.credit_balances;
  v_reservation public.credit_reservations;
  v_locked boolean := false;
  v_reserved numeric(20, 3) := 0;
  v_total numeric(20, 3);
  v_before numeric(20, 3);
  v_charge numeric(20, 3);
  v_allowance numeric(20, 3);
  v_purchased numeric(20, 3);
  v_bonus numeric(20, 3);
  v_resolved boolean := false;
  v_first_id uuid;
  v_first_source text;
  v_first_remaining numeric(20, 3);
  v_room numeric(20, 3);
begin
  if p_actual_amount is null or p_actual_amount < 0 or p_actual_amount <> round(p_actual_amount, 3) or p_actual_amount >= 100000000000000000 then
    perform ledger.check_amount(p_actual_amount, 'actual_amount', true);
  end if;
  -- The common case in one statement, before the ledger lock: an open reservation of this org
  -- settled within its hold. It is charged the actual amount unless fewer credits remain (then the
  -- statement under the lock below corrects the row). (Why "is not distinct from": see
  -- credit_reservations_open_idx.)
  update public.credit_reservations r
  set status = 'settled', settled_amount_credits = p_actual_amount, capped = false, usage = p_usage,
      resolved_at = p_now, updated_at = p_now
  where r.id = p_reservation_id and r.status is not distinct from 'open' and r.amount_credits >= p_actual_amount
    and (p_org_id is null or r.organization_id = p_org_id)
  returning * into v_reservation;
  v_resolved := found;
  if v_resolved then
    v_org_id := v_reservation.organization_id;
  else
    -- Missing, another org's, already resolved (each raises), or a charge above the hold.
    v_org_id := ledger.find_reservation(p_reservation_id, p_org_id);
    v_reservation := ledger.lock_open_reservation(p_reservation_id, v_org_id);
  end if;
  perform ledger.lock_ledger(v_org_id);
  if p_actual_amount > v_reservation.amount_credits or current_setting('transaction_isolation') <> 'read committed' then
    v_balance := ledger.lock_holds_and_balance(v_org_id);
    v_locked := true;
  else
    select * into v_balance from public.credit_balances where organization_id = v_org_id;
  end if;
  if v_balance.next_expiry_at <= p_now then
    if not v_locked then
      perform ledger.lock_holds_and_balance(v_org_id);
      v_locked := true;
    end if;
    perform ledger.expire_due_grants(v_org_id, p_now);
    select * into v_balance from public.credit_balances where organization_id = v_org_id;
  end if;
  if p_actual_amount > v_reservation.amount_credits then
    v_reserved := ledger.reserved_of(v_org_id);
    -- Room above the hold under the org's spend limits, counted as reserve_credits counts them (we
    -- hold the holds, so no reserve moves them): the whole charge within the per-call limit, and the
    -- day's and month's consumed (a counter of the settle's UTC day or month, or of a later one) plus
    -- every open hold, this one included, within theirs. least() skips a null: a limit not set bounds
    -- nothing, and no spend_limits row leaves v_room null.
    select least(
        l.per_call_limit_credits - v_reservation.amount_credits,
        l.daily_limit_credits - v_reserved
          - case when v_balance.spend_day >= (p_now at time zone 'UTC')::date then v_balance.spend_day_credits else 0 end,
        l.monthly_limit_credits - v_reserved
          - case when v_balance.spend_month >= date_trunc('month', p_now at time zone 'UTC')::date then v_balance.spend_month_credits
                 else 0 end)
      into v_room
    from public.spend_limits l
    where l.organization_id = v_org_id;
  end if;

  v_total := ledger.remaining_of(v_balance);
  v_before := ledger.balance_of(v_balance);
  -- The held amount, plus beyond it only what is available and what the spend limits leave room
  -- for (the hold itself was admitted by the reserve: never less); never more than remains. (Up to
  -- the hold, neither what is reserved nor the limits matter, and neither is read: v_reserved is 0,
  -- v_room null, and the middle term is then never the least.)
  v_charge := least(
    p_actual_amount,
    v_reservation.amount_credits + greatest(0, least(v_before - v_reserved, v_room)),
    v_total);

  -- Draw v_charge from grants in burn order (grants change only under the ledger lock, which we
  -- hold), with one consume entry per grant carrying the running balance, and note what was taken
  -- from each bucket. Most settles draw from one grant: when the first in burn order covers the
  -- charge, that is one UPDATE and one INSERT; otherwise one statement walks the grants.
  v_allowance := 0;
  v_purchased := 0;
  v_bonus := 0;
  if v_charge > 0 then
    select g.id, g.source, g.remaining_credits into v_first_id, v_first_source, v_first_remaining
    from public.credit_grants g
    where g.organization_id = v_org_id and g.remaining_credits > 0 and g.expired_at is null
    order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id
    limit 1;
    if v_first_remaining >= v_charge then
      update public.credit_grants g set remaining_credits = g.remaining_credits - v_charge, updated_at = p_now
      where g.id = v_first_id;
      insert into public.credit_ledger_entries
        (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, reservation_id, description, created_at)
      values (v_org_id, 'consume', -v_charge, v_before - v_charge, v_first_id, p_reservation_id,
        v_reservation.capability_code, p_now);
      case ledger.bucket_of(v_first_source)
        when 'allowance' then v_allowance := v_charge;
        when 'purchased' then v_purchased := v_charge;
        else v_bonus := v_charge;
      end case;
    else
      with ordered as (
        select g.id, g.source, g.remaining_credits,
          coalesce(sum(g.remaining_credits) over (burn rows between unbounded preceding and 1 preceding), 0) as before,
          row_number() over burn as n
        from public.credit_grants g
        where g.organization_id = v_org_id and g.remaining_credits > 0 and g.expired_at is null
        window burn as (order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id)
      ),
      take as (
        select o.id, o.source, o.n, least(o.remaining_credits, v_charge - o.before) as credits, o.before
        from ordered o
        where o.before < v_charge
      ),
      grants as (
        update public.credit_grants g
        set remaining_credits = g.remaining_credits - t.credits, updated_at = p_now
        from take t
        where g.id = t.id
      ),
      entries as (
        insert into public.credit_ledger_entries
          (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, reservation_id, description, created_at)
        select v_org_id, 'consume', -t.credits, v_before - t.before - t.credits, t.id, p_reservation_id,
          v_reservation.capability_code, p_now
        from take t
        order by t.n
      )
      select
        coalesce(sum(t.credits) filter (where ledger.bucket_of(t.source) = 'allowance'), 0),
        coalesce(sum(t.credits) filter (where ledger.bucket_of(t.source) = 'purchased'), 0),
        coalesce(sum(t.credits) filter (where ledger.bucket_of(t.source) = 'bonus'), 0)
      into v_allowance, v_purchased, v_bonus
      from take t;
    end if;
  end if;

  insert into public.organization_usage_daily as u (organization_id, day, capability_code, quality_level_code, calls, credits_consumed)
  values (v_org_id, (p_now at time zone 'UTC')::date, v_reservation.capability_code, v_reservation.quality_level_code, 1, v_charge)
  on conflict on constraint organization_usage_daily_key do update
  set calls = u.calls + 1, credits_consumed = u.credits_consumed + excluded.credits_consumed;
  -- The reservation, unless it was resolved above with what it is charged.
  if not v_resolved or v_charge < p_actual_amount then
    update public.credit_reservations r
    set status = 'settled', settled_amount_credits = v_charge, capped = v_charge < p_actual_amount, usage = p_usage,
        resolved_at = p_now, updated_at = p_now
    where r.id = p_reservation_id
    returning * into v_reservation;
  end if;

  -- Last, the balance row: the buckets, the resolved hold and the spend counters, by difference.
  update public.credit_balances b
  set allowance_remaining_credits = b.allowance_remaining_credits - v_allowance,
      purchased_remaining_credits = b.purchased_remaining_credits - v_purchased,
      bonus_remaining_credits = b.bonus_remaining_credits - v_bonus,
      released_credits = b.released_credits + v_reservation.amount_credits,
      -- A settle dated before the counter's day or month (its caller read the clock before midnight,
      -- or runs on a host whose clock is behind, and a later-dated settle got in first) is counted in
      -- the stored, later one: counted once, in the window the reserves now check against.
      spend_day_credits = case when b.spend_day >= (p_now at time zone 'UTC')::date then b.spend_day_credits + v_charge
                               else v_charge end,
      spend_day = greatest(b.spend_day, (p_now at time zone 'UTC')::date),
      spend_month_credits = case when b.spend_month >= date_trunc('month', p_now at time zone 'UTC')::date then b.spend_month_credits + v_charge
                                 else v_charge end,
      spend_month = greatest(b.spend_month, date_trunc('month', p_now at time zone 'UTC')::date),
      updated_at = p_now
  where b.organization_id = v_org_id;

  -- Credits of expired grants that this hold kept back can expire now.
  if v_balance.next_expiry_at <= p_now then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;
