-- Why: a reserve refused by both the daily and the monthly spend limit answered the daily one, with
-- retry_after_seconds until the next UTC midnight; a caller that waited that long was refused
-- again, by the monthly limit. The monthly limit is now checked first, so the answer names the
-- limit that still refuses after the wait. Only the order of the two refusals changes; a reserve
-- that succeeds reads, locks and writes the same as before.
--
-- Example: monthly limit 100 with 95 used this month, daily limit 50 with 48 used today; reserve 10
-- -> before OC003 {"limit": "daily", "retry_after_seconds": <until midnight>}; now OC003
-- {"limit": "monthly", "retry_after_seconds": <until the first of next month>}.

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
  v_today date := (p_now at time zone 'UTC')::date;
  v_month date := date_trunc('month', p_now at time zone 'UTC')::date;
  v_hour timestamptz := date_trunc('hour', p_now at time zone 'UTC') at time zone 'UTC';
  v_available numeric(20, 3);
  v_spent_day numeric(20, 3);
  v_spent_month numeric(20, 3);
  v_hour_calls int;
  v_day_calls int;
  v_rate_hour timestamptz;
  v_rate_day date;
  v_required_plan text;
  v_attempt int;
  v_held boolean;
  v_reserved numeric(20, 3);
  v_capability_active boolean;
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
    -- An open hold already past its expiry is over: answering it as a hold would let the caller run
    -- the call while the job expires it, and the settle would then be refused, so the call would
    -- never be charged. It is expired here, as the job does it (the reservation's row, then the
    -- org's locks), and the expired row is returned.
    if v_reservation.status = 'open' and v_reservation.expires_at <= p_now then
      update public.credit_reservations r
      set status = 'expired', resolved_at = p_now, updated_at = p_now
      where r.id = v_reservation.id and r.status is not distinct from 'open'
      returning * into v_reservation;
      if found then
        perform ledger.lock_organization(p_org_id);
        update public.credit_balances
        set released_credits = released_credits + v_reservation.amount_credits, updated_at = p_now
        where organization_id = p_org_id;
        perform ledger.expire_due_grants(p_org_id, p_now);
      else
        -- Resolved meanwhile (settled, released or expired by the job): as it is now.
        select * into v_reservation from public.credit_reservations r
        where r.organization_id = p_org_id and r.idempotency_key = p_idempotency_key;
      end if;
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
    c.is_active
  into v_org_exists, v_plan_id, v_in_plan, v_limit_hour, v_limit_day, v_quality_model_id, v_model_id, v_pricing,
       v_daily, v_monthly, v_per_call, v_capability_active
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
  -- An unknown or retired capability, or an unknown quality level, is bad input (as the api answers
  -- it): no plan offers it, so CAPABILITY_NOT_IN_PLAN or QUALITY_NOT_IN_PLAN would send the caller
  -- to upgrade, which can never help.
  if p_capability_code is not null and v_capability_active is not true then
    perform ledger.raise_error('INVALID_INPUT',
      format('unknown capability %s (org %s)', p_capability_code, p_org_id),
      jsonb_build_object('field', 'capability_code', 'value', p_capability_code));
  end if;
  if p_quality_level_code is not null and v_quality_model_id is null
    and not exists (select 1 from public.quality_levels ql where ql.code = p_quality_level_code) then
    perform ledger.raise_error('INVALID_INPUT',
      format('unknown quality level %s (org %s)', p_quality_level_code, p_org_id),
      jsonb_build_object('field', 'quality_level_code', 'value', p_quality_level_code));
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

  -- The reservation row first, outside the balance row's lock: its index entries and foreign-key
  -- checks then cost the busy organization nothing. The same key inserted meanwhile by another
  -- call makes this one wait for that call and then answer as a replay. Every refusal below raises,
  -- which takes this row away again.
  insert into public.credit_reservations
    (organization_id, user_id, capability_code, quality_level_code, model_id, idempotency_key, amount_credits, pricing,
     expires_at, created_at, updated_at)
  values
    (p_org_id, p_user_id, p_capability_code, p_quality_level_code, v_model_id, p_idempotency_key, p_amount, v_pricing,
     p_now + make_interval(secs => p_ttl_seconds), p_now, p_now)
  on conflict (organization_id, idempotency_key) do nothing
  returning * into v_reservation;
  if not found then
    return public.reserve_credits(p_org_id, p_amount, p_idempotency_key, p_capability_code, p_quality_level_code, p_model_id,
      p_pricing, p_user_id, p_ttl_seconds, p_now);
  end if;

  for v_attempt in 1..2 loop
    -- The hold in one statement, under the org's holds: it succeeds only when nothing is due to
    -- expire and available and every spend limit allow it, reading credit_balances as committed
    -- when the statement starts (after lock_holds, so after everyone who lowered it before us).
    -- In a subtransaction, so that a refusal gives the holds back (its rollback releases the
    -- advisory lock) before the ledger lock is taken below, keeping the lock order.
    v_held := false;
    begin
      perform ledger.lock_holds(p_org_id);
      update public.credit_holds h
      set held_credits = h.held_credits + p_amount,
          updated_at = p_now
      from public.credit_balances b
      where h.organization_id = p_org_id and b.organization_id = p_org_id
        and (b.next_expiry_at is null or b.next_expiry_at > p_now)
        and ledger.balance_of(b) - ledger.reserved_in(h, b) - p_amount >= 0
        and (v_per_call is null or p_amount <= v_per_call)
        -- A counter of the reserve's day or month, or of a later one (this reserve's caller read the
        -- clock before midnight and a settle dated after it got in first), is what has been used.
        and (v_daily is null
          or case when b.spend_day >= v_today then b.spend_day_credits else 0 end + ledger.reserved_in(h, b) + p_amount
            <= v_daily)
        and (v_monthly is null
          or case when b.spend_month >= v_month then b.spend_month_credits else 0 end + ledger.reserved_in(h, b) + p_amount
            <= v_monthly);
      v_held := found;
      if not v_held then
        raise sqlstate 'OCR01';
      end if;
    exception when sqlstate 'OCR01' then
      null;
    end;
    exit when v_held;
    -- Why not? Take the org's locks (a refused UPDATE locked nothing, so the order holds) so the
    -- answer describes a state that holds. Grants that came due (rare: the row says so) are
    -- expired and the hold tried once more.
    v_balance := ledger.lock_organization(p_org_id);
    v_reserved := ledger.reserved_of(p_org_id);
    if v_attempt = 1 and v_balance.next_expiry_at <= p_now then
      perform ledger.expire_due_grants(p_org_id, p_now);
      continue;
    end if;
    if v_limit_hour is not null or v_limit_day is not null then
      -- The stored window counts when it is this reserve's or a later one (see the counters below).
      select case when u.hour_start >= v_hour then u.hour_calls else 0 end, case when u.day >= v_today then u.day_calls else 0 end,
          greatest(u.hour_start, v_hour), greatest(u.day, v_today)
        into v_hour_calls, v_day_calls, v_rate_hour, v_rate_day
      from public.organization_rate_usage u where u.organization_id = p_org_id and u.capability_code = p_capability_code;
      if v_limit_day is not null and coalesce(v_day_calls, 0) >= v_limit_day then
        perform ledger.raise_error('RATE_LIMITED',
          format('org %s reached its daily limit of %s calls for %s', p_org_id, v_limit_day, p_capability_code),
          jsonb_build_object('capability_code', p_capability_code, 'window', 'day', 'limit', v_limit_day,
            'retry_after_seconds',
            ceil(extract(epoch from ((coalesce(v_rate_day, v_today) + 1)::timestamp at time zone 'UTC') - p_now))::int));
      end if;
      if v_limit_hour is not null and coalesce(v_hour_calls, 0) >= v_limit_hour then
        perform ledger.raise_error('RATE_LIMITED',
          format('org %s reached its hourly limit of %s calls for %s', p_org_id, v_limit_hour, p_capability_code),
          jsonb_build_object('capability_code', p_capability_code, 'window', 'hour', 'limit', v_limit_hour,
            'retry_after_seconds', ceil(extract(epoch from (coalesce(v_rate_hour, v_hour) + interval '1 hour') - p_now))::int));
      end if;
    end if;
    if v_per_call is not null and p_amount > v_per_call then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its per-call limit of %s', p_amount, p_org_id, v_per_call),
        jsonb_build_object('limit', 'per_call', 'limit_credits', v_per_call::text, 'required', p_amount::text));
    end if;
    -- The monthly limit before the daily one: when both are passed, the month's end is the first
    -- time a retry can succeed (after midnight the monthly limit would still refuse).
    v_spent_month := case when v_balance.spend_month >= v_month then v_balance.spend_month_credits else 0 end + v_reserved;
    if v_monthly is not null and v_spent_month + p_amount > v_monthly then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its monthly limit of %s (%s used or held this month)', p_amount, p_org_id, v_monthly, v_spent_month),
        jsonb_build_object('limit', 'monthly', 'limit_credits', v_monthly::text, 'used', v_spent_month::text, 'required', p_amount::text,
          'retry_after_seconds',
          ceil(extract(epoch from (((greatest(v_balance.spend_month, v_month) + interval '1 month')::date)::timestamp at time zone 'UTC')
            - p_now))::int));
    end if;
    v_spent_day := case when v_balance.spend_day >= v_today then v_balance.spend_day_credits else 0 end + v_reserved;
    if v_daily is not null and v_spent_day + p_amount > v_daily then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its daily limit of %s (%s used or held today)', p_amount, p_org_id, v_daily, v_spent_day),
        jsonb_build_object('limit', 'daily', 'limit_credits', v_daily::text, 'used', v_spent_day::text, 'required', p_amount::text,
          'retry_after_seconds',
          ceil(extract(epoch from ((greatest(v_balance.spend_day, v_today) + 1)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    v_available := ledger.balance_of(v_balance) - v_reserved;
    perform ledger.raise_error('INSUFFICIENT_CREDITS',
      format('org %s has %s credits available, %s required', p_org_id, v_available, p_amount),
      jsonb_build_object('available', v_available::text, 'required', p_amount::text));
  end loop;

  -- Rate limits: fixed UTC hour and day windows, counted per reservation (under the org's holds).
  -- The windows only move forward: a reserve dated in an older window than the stored one (its
  -- caller read the clock before the hour or day turned, and reserves dated after it got in first)
  -- is counted in, and checked against, the stored window, whose calls it joins as it commits.
  if v_limit_hour is not null or v_limit_day is not null then
    insert into public.organization_rate_usage as u (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
    values (p_org_id, p_capability_code, v_hour, 1, v_today, 1)
    on conflict (organization_id, capability_code) do update
    set hour_calls = case when u.hour_start >= excluded.hour_start then u.hour_calls + 1 else 1 end,
        hour_start = greatest(u.hour_start, excluded.hour_start),
        day_calls = case when u.day >= excluded.day then u.day_calls + 1 else 1 end,
        day = greatest(u.day, excluded.day)
    returning u.hour_calls, u.day_calls, u.hour_start, u.day into v_hour_calls, v_day_calls, v_rate_hour, v_rate_day;
    if v_limit_day is not null and v_day_calls > v_limit_day then
      perform ledger.raise_error('RATE_LIMITED',
        format('org %s reached its daily limit of %s calls for %s', p_org_id, v_limit_day, p_capability_code),
        jsonb_build_object('capability_code', p_capability_code, 'window', 'day', 'limit', v_limit_day,
          'retry_after_seconds', ceil(extract(epoch from ((v_rate_day + 1)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    if v_limit_hour is not null and v_hour_calls > v_limit_hour then
      perform ledger.raise_error('RATE_LIMITED',
        format('org %s reached its hourly limit of %s calls for %s', p_org_id, v_limit_hour, p_capability_code),
        jsonb_build_object('capability_code', p_capability_code, 'window', 'hour', 'limit', v_limit_hour,
          'retry_after_seconds', ceil(extract(epoch from (v_rate_hour + interval '1 hour') - p_now))::int));
    end if;
  end if;

  return v_reservation;
end;
$$;
