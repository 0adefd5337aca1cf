-- Why: on one busy organization every reserve and settle queue on the organization's lock, which
-- each holds until its commit is durable; the work done while holding it sets the organization's
-- throughput. The benchmark (bench/src/ledger.ts) showed the first versions of reserve_credits and
-- settle_reservation doing a dozen statements, half of them under the lock. This migration:
--   * keeps on credit_balances the earliest expiry among the organization's grants that hold
--     credits (next_expiry_at, never later than the truth), so a call learns from the row it
--     locks, without a query, whether any grant is due for lazy expiry;
--   * reads the plan, limits and prices for a reserve in one statement before the lock;
--   * settles in one statement under the lock (grants in burn order, consume entries, balance,
--     reservation and daily usage together), and releases in one.
-- The rules are unchanged; docs/ledger.md describes them.

alter table public.credit_balances add column next_expiry_at timestamptz;
comment on column public.credit_balances.next_expiry_at is
  'The earliest expires_at among the organization''s grants that hold credits, or earlier (it is corrected when a call finds nothing due); null when none expires. A call whose p_now has reached it expires due grants first.';

update public.credit_balances b
set next_expiry_at = (
  select min(g.expires_at) from public.credit_grants g where g.organization_id = b.organization_id and g.remaining_credits > 0
);

create function ledger.note_grant_expiry() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  update public.credit_balances
  set next_expiry_at = least(coalesce(next_expiry_at, new.expires_at), new.expires_at)
  where organization_id = new.organization_id;
  return null;
end;
$$;
comment on function ledger.note_grant_expiry() is 'Trigger: a new grant that expires may move its organization''s next_expiry_at earlier.';

create trigger credit_grants_note_expiry after insert on public.credit_grants
  for each row when (new.expires_at is not null and new.remaining_credits > 0)
  execute function ledger.note_grant_expiry();

-- Same rule as before; now also recomputes next_expiry_at, and is skipped by callers whose
-- locked balance row says nothing can be due.
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
comment on function ledger.expire_due_grants(uuid, timestamptz) is 'Zeroes the organization''s grants past expires_at (writing expire entries), except credits still held by open reservations, which expire once those resolve; then recomputes next_expiry_at. The caller must hold the organization''s lock (its credit_balances row).';

-- Example: Acme (pro) has 500 allowance + 1,400 purchased, nothing reserved.
-- reserve_credits(acme, 2.5, 'req-1', 'summarization', 'enhanced') checks the plan includes
-- summarization at enhanced (served by anthropic/claude-haiku-4-5), counts the call against the
-- hourly and daily limits, checks spend limits, and holds 2.500: reserved 0 -> 2.5, available
-- 1,900 -> 1,897.5. The hold expires after 600 s unless settled or released. 'req-1' again returns
-- the same reservation.
create or replace function public.reserve_credits(
  p_org_id uuid,
  p_amount numeric,
  p_idempotency_key text,
  p_capability_code text default null,
  p_quality_level_code text default null,
  p_model_id text default null,
  p_pricing jsonb default null,
  p_user_id uuid default null,
  p_ttl_seconds int default 600,
  p_now timestamptz default now()
) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_reservation public.credit_reservations;
  v_balance public.credit_balances;
  v_org_exists boolean;
  v_plan_id uuid;
  v_in_plan boolean;
  v_limit_hour int;
  v_limit_day int;
  v_quality_model_id text;
  v_model_id text;
  v_pricing jsonb;
  v_daily numeric(20, 3);
  v_monthly numeric(20, 3);
  v_per_call numeric(20, 3);
  v_next_expiry timestamptz;
  v_today date := (p_now at time zone 'UTC')::date;
  v_month date := date_trunc('month', p_now at time zone 'UTC')::date;
  v_hour timestamptz := date_trunc('hour', p_now at time zone 'UTC') at time zone 'UTC';
  v_available numeric(20, 3);
  v_spent_day numeric(20, 3);
  v_spent_month numeric(20, 3);
  v_hour_calls int;
  v_day_calls int;
  v_required_plan text;
begin
  if p_amount is null or p_amount <= 0 or p_amount <> round(p_amount, 3) or p_amount >= 100000000000000000 then
    perform ledger.check_amount(p_amount, 'amount');
  end if;
  if p_idempotency_key is null or length(btrim(p_idempotency_key)) = 0 or length(p_idempotency_key) > 255 then
    perform ledger.raise_error('INVALID_INPUT', format('a reservation for org %s needs an idempotency key of 1 to 255 characters', p_org_id),
      jsonb_build_object('field', 'idempotency_key'));
  end if;
  if p_ttl_seconds is null or p_ttl_seconds <= 0 or p_ttl_seconds > 86400 then
    perform ledger.raise_error('INVALID_INPUT', format('ttl_seconds must be between 1 and 86400, not %s', coalesce(p_ttl_seconds::text, 'null')),
      jsonb_build_object('field', 'ttl_seconds', 'value', p_ttl_seconds));
  end if;
  if p_quality_level_code is not null and p_capability_code is null then
    perform ledger.raise_error('INVALID_INPUT', format('a quality level needs a capability (org %s)', p_org_id),
      jsonb_build_object('field', 'capability_code'));
  end if;

  -- Idempotency: the same key returns the same reservation, whatever its status.
  select * into v_reservation from public.credit_reservations where organization_id = p_org_id and idempotency_key = p_idempotency_key;
  if found then
    if v_reservation.amount_credits <> p_amount
      or v_reservation.capability_code is distinct from p_capability_code
      or v_reservation.quality_level_code is distinct from p_quality_level_code then
      perform ledger.raise_error('IDEMPOTENCY_CONFLICT',
        format('reservation %s of org %s already uses idempotency key %s with other arguments', v_reservation.id, p_org_id, p_idempotency_key),
        jsonb_build_object('reservation_id', v_reservation.id, 'amount', v_reservation.amount_credits::text,
          'capability_code', v_reservation.capability_code, 'quality_level_code', v_reservation.quality_level_code));
    end if;
    return v_reservation;
  end if;

  -- Everything the checks need, in one read before the lock (the catalogue and limits are not
  -- money; the money checks happen in the locked UPDATE below).
  select
    b.organization_id is not null,
    s.plan_id,
    pc.plan_id is not null,
    pc.rate_limit_per_hour,
    pc.rate_limit_per_day,
    q.model_id,
    coalesce(q.model_id, p_model_id),
    case when p_pricing is not null then p_pricing
         when c.code is not null then jsonb_build_object(
           'pricing_mode', c.pricing_mode, 'base_cost_credits', c.base_cost_credits::text,
           'input_credits_per_1k_tokens', m.input_credits_per_1k_tokens::text,
           'output_credits_per_1k_tokens', m.output_credits_per_1k_tokens::text) end,
    l.daily_limit_credits,
    l.monthly_limit_credits,
    l.per_call_limit_credits,
    b.next_expiry_at
  into v_org_exists, v_plan_id, v_in_plan, v_limit_hour, v_limit_day, v_quality_model_id, v_model_id, v_pricing,
       v_daily, v_monthly, v_per_call, v_next_expiry
  from (select 1) as one
  left join public.credit_balances b on b.organization_id = p_org_id
  left join public.organization_subscriptions s on s.organization_id = p_org_id
  left join public.plan_capabilities pc on pc.plan_id = s.plan_id and pc.capability_code = p_capability_code
  left join public.plan_capability_quality_levels q
    on q.plan_id = s.plan_id and q.capability_code = p_capability_code and q.quality_level_code = p_quality_level_code
  left join public.ai_capabilities c on c.code = p_capability_code
  left join public.llm_models m on m.id = coalesce(q.model_id, p_model_id)
  left join public.spend_limits l on l.organization_id = p_org_id;

  if not v_org_exists then
    perform ledger.raise_error('ORGANIZATION_NOT_FOUND', format('org %s does not exist', p_org_id), jsonb_build_object('organization_id', p_org_id));
  end if;
  if p_user_id is not null and not exists (
    select 1 from public.organization_members m where m.organization_id = p_org_id and m.user_id = p_user_id
  ) then
    perform ledger.raise_error('INVALID_INPUT', format('user %s is not a member of org %s', p_user_id, p_org_id),
      jsonb_build_object('field', 'user_id', 'value', p_user_id));
  end if;
  if p_capability_code is not null and not v_in_plan then
    select p.code into v_required_plan
    from public.plans p join public.plan_capabilities pc on pc.plan_id = p.id and pc.capability_code = p_capability_code
    where p.is_active order by p.rank limit 1;
    perform ledger.raise_error('CAPABILITY_NOT_IN_PLAN', format('the plan of org %s does not include capability %s', p_org_id, p_capability_code),
      jsonb_build_object('capability_code', p_capability_code, 'plan_id', v_plan_id, 'required_plan_code', v_required_plan));
  end if;
  if p_quality_level_code is not null and v_quality_model_id is null then
    select p.code into v_required_plan
    from public.plans p
    join public.plan_capability_quality_levels q
      on q.plan_id = p.id and q.capability_code = p_capability_code and q.quality_level_code = p_quality_level_code
    where p.is_active order by p.rank limit 1;
    perform ledger.raise_error('QUALITY_NOT_IN_PLAN',
      format('the plan of org %s does not offer quality level %s for capability %s', p_org_id, p_quality_level_code, p_capability_code),
      jsonb_build_object('capability_code', p_capability_code, 'quality_level_code', p_quality_level_code, 'plan_id', v_plan_id,
        'required_plan_code', v_required_plan));
  end if;
  if p_model_id is not null and v_quality_model_id is not null and p_model_id <> v_quality_model_id then
    perform ledger.raise_error('INVALID_INPUT',
      format('org %s: %s at %s is served by model %s, not %s', p_org_id, p_capability_code, p_quality_level_code, v_quality_model_id, p_model_id),
      jsonb_build_object('field', 'model_id', 'value', p_model_id, 'expected', v_quality_model_id));
  end if;

  -- Grants past their expiry must not count: expire them first (rare; needs the lock).
  if v_next_expiry <= p_now then
    select * into v_balance from public.credit_balances where organization_id = p_org_id for update;
    perform ledger.expire_due_grants(p_org_id, p_now);
  end if;

  -- The organization's lock and the hold in one statement: it succeeds only when nothing is due
  -- to expire and available and every spend limit allow it.
  update public.credit_balances b
  set reserved_credits = b.reserved_credits + p_amount,
      updated_at = p_now
  where b.organization_id = p_org_id
    and (b.next_expiry_at is null or b.next_expiry_at > p_now)
    and b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits
        - b.debt_credits - b.reserved_credits - p_amount >= 0
    and (v_per_call is null or p_amount <= v_per_call)
    and (v_daily is null
      or case when b.spend_day = v_today then b.spend_day_credits else 0 end + b.reserved_credits + p_amount <= v_daily)
    and (v_monthly is null
      or case when b.spend_month = v_month then b.spend_month_credits else 0 end + b.reserved_credits + p_amount <= v_monthly)
  returning * into v_balance;

  if not found then
    -- Why not? Lock the row so the answer describes a state that holds.
    select * into v_balance from public.credit_balances where organization_id = p_org_id for update;
    -- A reservation with this key may have been committed while we waited, or a grant become
    -- due: both are answered by starting again under the lock.
    if v_balance.next_expiry_at <= p_now and ledger.expire_due_grants(p_org_id, p_now) >= 0 and (
      select b.next_expiry_at is null or b.next_expiry_at > p_now from public.credit_balances b where b.organization_id = p_org_id
    ) then
      return public.reserve_credits(p_org_id, p_amount, p_idempotency_key, p_capability_code, p_quality_level_code, p_model_id,
        p_pricing, p_user_id, p_ttl_seconds, p_now);
    end if;
    if exists (select 1 from public.credit_reservations where organization_id = p_org_id and idempotency_key = p_idempotency_key) then
      return public.reserve_credits(p_org_id, p_amount, p_idempotency_key, p_capability_code, p_quality_level_code, p_model_id,
        p_pricing, p_user_id, p_ttl_seconds, p_now);
    end if;
    select * into v_balance from public.credit_balances where organization_id = p_org_id;
    if v_limit_hour is not null or v_limit_day is not null then
      select case when u.hour_start = v_hour then u.hour_calls else 0 end, case when u.day = v_today then u.day_calls else 0 end
        into v_hour_calls, v_day_calls
      from public.organization_rate_usage u where u.organization_id = p_org_id and u.capability_code = p_capability_code;
      if v_limit_day is not null and coalesce(v_day_calls, 0) >= v_limit_day then
        perform ledger.raise_error('RATE_LIMITED',
          format('org %s reached its daily limit of %s calls for %s', p_org_id, v_limit_day, p_capability_code),
          jsonb_build_object('capability_code', p_capability_code, 'window', 'day', 'limit', v_limit_day,
            'retry_after_seconds', ceil(extract(epoch from ((v_today + 1)::timestamp at time zone 'UTC') - p_now))::int));
      end if;
      if v_limit_hour is not null and coalesce(v_hour_calls, 0) >= v_limit_hour then
        perform ledger.raise_error('RATE_LIMITED',
          format('org %s reached its hourly limit of %s calls for %s', p_org_id, v_limit_hour, p_capability_code),
          jsonb_build_object('capability_code', p_capability_code, 'window', 'hour', 'limit', v_limit_hour,
            'retry_after_seconds', ceil(extract(epoch from (v_hour + interval '1 hour') - p_now))::int));
      end if;
    end if;
    if v_per_call is not null and p_amount > v_per_call then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its per-call limit of %s', p_amount, p_org_id, v_per_call),
        jsonb_build_object('limit', 'per_call', 'limit_credits', v_per_call::text, 'required', p_amount::text));
    end if;
    v_spent_day := case when v_balance.spend_day = v_today then v_balance.spend_day_credits else 0 end + v_balance.reserved_credits;
    if v_daily is not null and v_spent_day + p_amount > v_daily then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its daily limit of %s (%s used or held today)', p_amount, p_org_id, v_daily, v_spent_day),
        jsonb_build_object('limit', 'daily', 'limit_credits', v_daily::text, 'used', v_spent_day::text, 'required', p_amount::text,
          'retry_after_seconds', ceil(extract(epoch from ((v_today + 1)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    v_spent_month := case when v_balance.spend_month = v_month then v_balance.spend_month_credits else 0 end + v_balance.reserved_credits;
    if v_monthly is not null and v_spent_month + p_amount > v_monthly then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its monthly limit of %s (%s used or held this month)', p_amount, p_org_id, v_monthly, v_spent_month),
        jsonb_build_object('limit', 'monthly', 'limit_credits', v_monthly::text, 'used', v_spent_month::text, 'required', p_amount::text,
          'retry_after_seconds',
          ceil(extract(epoch from (((v_month + interval '1 month')::date)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    v_available := v_balance.allowance_remaining_credits + v_balance.purchased_remaining_credits + v_balance.bonus_remaining_credits
      - v_balance.debt_credits - v_balance.reserved_credits;
    perform ledger.raise_error('INSUFFICIENT_CREDITS',
      format('org %s has %s credits available, %s required', p_org_id, v_available, p_amount),
      jsonb_build_object('available', v_available::text, 'required', p_amount::text));
  end if;

  -- Rate limits: fixed UTC hour and day windows, counted per reservation (under the org's lock).
  if v_limit_hour is not null or v_limit_day is not null then
    insert into public.organization_rate_usage as u (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
    values (p_org_id, p_capability_code, v_hour, 1, v_today, 1)
    on conflict (organization_id, capability_code) do update
    set hour_calls = case when u.hour_start = excluded.hour_start then u.hour_calls + 1 else 1 end,
        hour_start = excluded.hour_start,
        day_calls = case when u.day = excluded.day then u.day_calls + 1 else 1 end,
        day = excluded.day
    returning u.hour_calls, u.day_calls into v_hour_calls, v_day_calls;
    if v_limit_day is not null and v_day_calls > v_limit_day then
      perform ledger.raise_error('RATE_LIMITED',
        format('org %s reached its daily limit of %s calls for %s', p_org_id, v_limit_day, p_capability_code),
        jsonb_build_object('capability_code', p_capability_code, 'window', 'day', 'limit', v_limit_day,
          'retry_after_seconds', ceil(extract(epoch from ((v_today + 1)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    if v_limit_hour is not null and v_hour_calls > v_limit_hour then
      perform ledger.raise_error('RATE_LIMITED',
        format('org %s reached its hourly limit of %s calls for %s', p_org_id, v_limit_hour, p_capability_code),
        jsonb_build_object('capability_code', p_capability_code, 'window', 'hour', 'limit', v_limit_hour,
          'retry_after_seconds', ceil(extract(epoch from (v_hour + interval '1 hour') - p_now))::int));
    end if;
  end if;

  insert into public.credit_reservations
    (organization_id, user_id, capability_code, quality_level_code, model_id, idempotency_key, amount_credits, pricing,
     expires_at, created_at, updated_at)
  values
    (p_org_id, p_user_id, p_capability_code, p_quality_level_code, v_model_id, p_idempotency_key, p_amount, v_pricing,
     p_now + make_interval(secs => p_ttl_seconds), p_now, p_now)
  on conflict (organization_id, idempotency_key) do nothing
  returning * into v_reservation;
  if not found then
    -- Two calls with one key raced past the first check; the other committed while we waited for
    -- the lock. Undo our hold and count (we still hold the locks) and answer as a replay.
    update public.credit_balances set reserved_credits = reserved_credits - p_amount where organization_id = p_org_id;
    if v_limit_hour is not null or v_limit_day is not null then
      update public.organization_rate_usage
      set hour_calls = hour_calls - 1, day_calls = day_calls - 1
      where organization_id = p_org_id and capability_code = p_capability_code;
    end if;
    return public.reserve_credits(p_org_id, p_amount, p_idempotency_key, p_capability_code, p_quality_level_code, p_model_id,
      p_pricing, p_user_id, p_ttl_seconds, p_now);
  end if;
  return v_reservation;
end;
$$;

-- Locks the org's balance row and then the reservation (the fixed lock order), checks the
-- reservation is open, and expires the org's due grants when the row says some may be due.
-- Returns the balance row as it stands after that.
create function ledger.lock_for_resolve(p_reservation_id uuid, p_org_id uuid, p_now timestamptz, out o_balance public.credit_balances,
  out o_reservation public.credit_reservations)
  language plpgsql volatile set search_path = '' as $$
begin
  select * into o_balance from public.credit_balances where organization_id = p_org_id for update;
  select * into o_reservation from public.credit_reservations where id = p_reservation_id for update;
  if o_reservation.status <> 'open' then
    perform ledger.raise_error('RESERVATION_ALREADY_RESOLVED',
      format('reservation %s of org %s is already %s', p_reservation_id, p_org_id, o_reservation.status),
      jsonb_build_object('reservation_id', p_reservation_id, 'status', o_reservation.status,
        'settled_amount', o_reservation.settled_amount_credits::text, 'resolved_at', o_reservation.resolved_at));
  end if;
  if o_balance.next_expiry_at <= p_now then
    perform ledger.expire_due_grants(p_org_id, p_now);
    select * into o_balance from public.credit_balances where organization_id = p_org_id;
  end if;
end;
$$;
comment on function ledger.lock_for_resolve(uuid, uuid, timestamptz) is 'Takes the organization''s lock, then the reservation''s; RESERVATION_ALREADY_RESOLVED unless it is open; expires due grants. Returns both rows.';

-- Example: a reservation holds 5 of an org with allowance grant A (2 left) and purchased grant B
-- (100 left); available 97. settle_reservation(r, 3.25) consumes 2 from A and 1.25 from B (two
-- `consume` entries, balance 102 -> 100 -> 98.75), returns the other 1.75 of the hold (available
-- 98.75), and marks the reservation settled with 3.250. settle_reservation(r, 120) instead would
-- charge 5 + 97 = 102 (all there is) and set capped = true. A second settle raises
-- RESERVATION_ALREADY_RESOLVED and changes nothing.
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
  v_locked record;
  v_balance public.credit_balances;
  v_reservation public.credit_reservations;
  v_total numeric(20, 3);
  v_charge numeric(20, 3);
begin
  if p_actual_amount is null or p_actual_amount < 0 or p_actual_amount <> round(p_actual_amount, 3) or p_actual_amount >= 100000000000000000 then
    perform ledger.check_amount(p_actual_amount, 'actual_amount', true);
  end if;
  v_org_id := ledger.find_reservation(p_reservation_id, p_org_id);
  v_locked := ledger.lock_for_resolve(p_reservation_id, v_org_id, p_now);
  v_balance := v_locked.o_balance;
  v_reservation := v_locked.o_reservation;

  v_total := v_balance.allowance_remaining_credits + v_balance.purchased_remaining_credits + v_balance.bonus_remaining_credits;
  -- The held amount, plus beyond it only what is available; never more than remains.
  v_charge := least(
    p_actual_amount,
    v_reservation.amount_credits + greatest(0, v_total - v_balance.debt_credits - v_balance.reserved_credits),
    v_total);

  -- One statement: draw v_charge from grants in burn order (grants change only under the org's
  -- lock, which we hold), one consume entry per grant with the running balance, then the balance
  -- row, the reservation and the day's usage.
  with ordered as (
    select g.id, g.source, g.remaining_credits,
      coalesce(sum(g.remaining_credits) over (
        order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id
        rows between unbounded preceding and 1 preceding), 0) as before,
      row_number() over (order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id) as n
    from public.credit_grants g
    where g.organization_id = v_org_id and g.remaining_credits > 0 and v_charge > 0
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
    select v_org_id, 'consume', -t.credits, v_total - v_balance.debt_credits - t.before - t.credits, t.id, p_reservation_id,
      v_reservation.capability_code, p_now
    from take t
    order by t.n
  ),
  balance as (
    update public.credit_balances b
    set allowance_remaining_credits = b.allowance_remaining_credits
          - coalesce((select sum(t.credits) from take t where t.source = 'plan_allowance'), 0),
        purchased_remaining_credits = b.purchased_remaining_credits
          - coalesce((select sum(t.credits) from take t where t.source in ('purchase', 'auto_top_up')), 0),
        bonus_remaining_credits = b.bonus_remaining_credits
          - coalesce((select sum(t.credits) from take t where t.source not in ('plan_allowance', 'purchase', 'auto_top_up')), 0),
        reserved_credits = b.reserved_credits - v_reservation.amount_credits,
        spend_day_credits = case when b.spend_day = (p_now at time zone 'UTC')::date then b.spend_day_credits else 0 end + v_charge,
        spend_day = (p_now at time zone 'UTC')::date,
        spend_month_credits = case when b.spend_month = date_trunc('month', p_now at time zone 'UTC')::date then b.spend_month_credits else 0 end
          + v_charge,
        spend_month = date_trunc('month', p_now at time zone 'UTC')::date,
        updated_at = p_now
    where b.organization_id = v_org_id
  ),
  usage as (
    insert into public.organization_usage_daily as u (organization_id, day, capability_code, quality_level_code, calls, credits_consumed)
    values (v_org_id, (p_now at time zone 'UTC')::date, v_reservation.capability_code, v_reservation.quality_level_code, 1, v_charge)
    on conflict on constraint organization_usage_daily_key do update
    set calls = u.calls + 1, credits_consumed = u.credits_consumed + excluded.credits_consumed
  )
  update public.credit_reservations r
  set status = 'settled', settled_amount_credits = v_charge, capped = v_charge < p_actual_amount, usage = p_usage,
      resolved_at = p_now, updated_at = p_now
  where r.id = p_reservation_id
  returning * into v_reservation;

  -- Credits of expired grants that this hold kept back can expire now.
  if v_balance.next_expiry_at <= p_now then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;

create or replace function public.release_reservation(
  p_reservation_id uuid,
  p_reason text default null,
  p_org_id uuid default null,
  p_now timestamptz default now()
) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_org_id uuid;
  v_locked record;
  v_reservation public.credit_reservations;
begin
  v_org_id := ledger.find_reservation(p_reservation_id, p_org_id);
  v_locked := ledger.lock_for_resolve(p_reservation_id, v_org_id, p_now);
  v_reservation := v_locked.o_reservation;
  with balance as (
    update public.credit_balances
    set reserved_credits = reserved_credits - v_reservation.amount_credits, updated_at = p_now
    where organization_id = v_org_id
  )
  update public.credit_reservations
  set status = 'released', release_reason = p_reason, resolved_at = p_now, updated_at = p_now
  where id = p_reservation_id
  returning * into v_reservation;
  if (v_locked.o_balance).next_expiry_at <= p_now then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;

drop function ledger.lock_open_reservation(uuid, uuid);
