-- Why: the money logic of the ledger lives in the database, so every caller (the actions service,
-- cron jobs, other backend services) gets the same rules, atomically: grant, reserve, settle,
-- release, expire and claw back credits, each writing append-only ledger entries and keeping the
-- per-organization balance row (credit_balances) exact.
--
-- Lock order, everywhere: the reservation -> the organization's ledger lock (ledger.lock_ledger) ->
-- the organization's holds (ledger.lock_holds, then its credit_holds row) -> its credit_balances
-- row. Grants, ledger entries and the balance row's buckets change only under the ledger lock;
-- reserves take only the holds. Nothing locks two organizations at once except the sweeps
-- (expire_reservations, expire_grants), which take organizations one after another in id order.
-- Internal helpers live in schema `ledger`; the API is the `public` functions below.
--
-- This file holds every function of the ledger once, in its final form. It was tuned after it was
-- first written (measured with bench/src/ledger.ts and auto_explain); the reason for each step is in
-- the comment above the function it shaped:
--   * next_expiry_at on credit_balances (note_grant_expiry, expire_due_grants, settle_reservation):
--     a call learns from the row it locks, without a query, whether any grant is due;
--   * reserve_credits reads the plan, limits and prices in one statement, and inserts its
--     reservation row before taking the organization's lock;
--   * a reserve adds to credit_holds and a settle to credit_balances (reserved is the difference),
--     so on a busy org reserves queue on the holds and settles on the ledger lock, not on each other;
--   * a settle resolves its reservation before it takes the ledger lock (the reservation comes
--     first in the lock order), so that row's update is not part of the queue's turn;
--   * the sweep (expire_grants) finds due grants by expired_at, so grant indexes do not depend on
--     remaining_credits and hot rows can be updated in place (see 1795322400000_create_tables);
--   * grant_credits refuses a plan allowance that would never expire.
-- The rules are unchanged by any of these; docs/ledger.md describes them.

-- Schema `ledger` is made by 1795322400000_create_tables (with the hot tables' row rules).

-- ---------------------------------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------------------------------

create function ledger.raise_error(p_code text, p_message text, p_detail jsonb default '{}'::jsonb) returns void
  language plpgsql volatile set search_path = '' as $$
declare
  v_sqlstate text := case p_code
    when 'INSUFFICIENT_CREDITS' then 'OC001'
    when 'RATE_LIMITED' then 'OC002'
    when 'SPEND_LIMIT_EXCEEDED' then 'OC003'
    when 'CAPABILITY_NOT_IN_PLAN' then 'OC004'
    when 'QUALITY_NOT_IN_PLAN' then 'OC005'
    when 'RESERVATION_ALREADY_RESOLVED' then 'OC006'
    when 'RESERVATION_NOT_FOUND' then 'OC007'
    when 'INVALID_INPUT' then 'OC008'
    when 'ORGANIZATION_NOT_FOUND' then 'OC009'
    when 'IDEMPOTENCY_CONFLICT' then 'OC010'
  end;
begin
  if v_sqlstate is null then
    raise exception 'unknown ledger error code %', p_code;
  end if;
  raise exception using errcode = v_sqlstate, message = p_message, detail = p_detail::text, hint = p_code;
end;
$$;
comment on function ledger.raise_error(text, text, jsonb) is 'Raises a ledger error: SQLSTATE OC001..OC010 for the code, the code name in HINT, the numbers as JSON in DETAIL (see docs/ledger.md).';

create function ledger.check_amount(p_amount numeric, p_what text, p_allow_zero boolean default false) returns void
  language plpgsql volatile set search_path = '' as $$
begin
  if p_amount is null or p_amount < 0 or (p_amount = 0 and not p_allow_zero) then
    perform ledger.raise_error('INVALID_INPUT',
      format('%s must be %s, not %s', p_what, case when p_allow_zero then 'zero or more' else 'greater than zero' end, coalesce(p_amount::text, 'null')),
      jsonb_build_object('field', p_what, 'value', p_amount::text));
  end if;
  if p_amount <> round(p_amount, 3) then
    perform ledger.raise_error('INVALID_INPUT', format('%s has more than three decimal places: %s', p_what, p_amount),
      jsonb_build_object('field', p_what, 'value', p_amount::text));
  end if;
  if p_amount >= 100000000000000000 then
    perform ledger.raise_error('INVALID_INPUT', format('%s is too large: %s', p_what, p_amount),
      jsonb_build_object('field', p_what, 'value', p_amount::text));
  end if;
end;
$$;
comment on function ledger.check_amount(numeric, text, boolean) is 'INVALID_INPUT unless the amount is positive (or zero when allowed), has at most three decimal places and fits numeric(20,3). More precise input is refused, never rounded.';

-- Which maintained bucket of credit_balances a grant source counts in.
-- No SET clause, so that the planner inlines it where a query uses it (it names no object, so
-- search_path does not matter to it).
create function ledger.bucket_of(p_source text) returns text
  language sql immutable as $$
  select case p_source
    when 'plan_allowance' then 'allowance'
    when 'purchase' then 'purchased'
    when 'auto_top_up' then 'purchased'
    else 'bonus'
  end
$$;
comment on function ledger.bucket_of(text) is 'The credit_balances bucket of a grant source: plan_allowance -> allowance; purchase, auto_top_up -> purchased; promotion, adjustment, migration -> bonus.';

-- An organization's credits, from its credit_balances row: remaining_of is what its grants hold (the
-- three maintained buckets), balance_of that less its debt (what ledger entries record as the balance
-- after). The one place the buckets are added up. No SET clause, so that the planner inlines them
-- into the queries that use them (they read no object, only the row they are given).
create function ledger.remaining_of(p_balance public.credit_balances) returns numeric
  language sql immutable as $$
  select p_balance.allowance_remaining_credits + p_balance.purchased_remaining_credits + p_balance.bonus_remaining_credits
$$;
comment on function ledger.remaining_of(public.credit_balances) is 'What an organization''s grants hold: allowance + purchased + bonus remaining of its credit_balances row.';

create function ledger.balance_of(p_balance public.credit_balances) returns numeric
  language sql immutable as $$
  select ledger.remaining_of(p_balance) - p_balance.debt_credits
$$;
comment on function ledger.balance_of(public.credit_balances) is 'An organization''s balance: remaining_of its credit_balances row less its debt (the balance after recorded by ledger entries).';

-- What an organization's open reservations hold, from its credit_holds and credit_balances rows:
-- reserves add to held_credits, whatever resolves a hold adds to released_credits (see the lock
-- order below). The one place the two are subtracted; inlined like balance_of.
create function ledger.reserved_in(p_holds public.credit_holds, p_balance public.credit_balances) returns numeric
  language sql immutable as $$
  select p_holds.held_credits - p_balance.released_credits
$$;
comment on function ledger.reserved_in(public.credit_holds, public.credit_balances) is 'What an organization''s open reservations hold: held_credits of its credit_holds row less released_credits of its credit_balances row.';

-- The organization's locks, always taken in this order (never an earlier one after a later one):
--   1. a reservation's row, to resolve it (settle, release, the expiry of holds; the sweep takes an
--      org's due reservations in id order). A reserve's new row is locked by its insert.
--   2. the ledger lock (this advisory lock): whoever changes the org's grants, ledger entries,
--      buckets, debt or spend counters holds it: settle, grant, expiry, clawback. Its holder may
--      read those columns of credit_balances without locking the row: nobody else changes them.
--   3. the holds (ledger.lock_holds, then the credit_holds row): a reserve adds to held_credits
--      under them, checking the credits available against credit_balances as committed. Whoever
--      lowers what is available otherwise (a clawback, the expiry of grants, a settle charging
--      beyond its hold) takes them too, before it changes credit_balances, so a reserve never
--      checks against credits that are about to go.
--   4. the credit_balances row (its UPDATE): settle, release and expiry add the holds they resolve
--      to released_credits.
-- Reserves and settles of one busy organization so queue apart: reserves on the holds, settles on
-- the ledger lock; a settle does not wait for reserves to commit, nor they for it. Reserved =
-- held_credits - released_credits; a reserve that reads credit_balances while a settle is under way
-- sees it before or after the settle, never between, and both allow no more than is there (a
-- settle frees at least what it charges, unless it charges beyond its hold, which takes the holds).
-- See "Locks" in docs/ledger.md.
create function ledger.lock_ledger(p_org_id uuid) returns void
  language sql volatile as $$
  select pg_catalog.pg_advisory_xact_lock(('x' || pg_catalog.left(pg_catalog.replace(p_org_id::text, '-', ''), 16))::bit(64)::bigint)
$$;
comment on function ledger.lock_ledger(uuid) is 'Takes the organization''s ledger lock (a transaction-level advisory lock keyed by the first 64 bits of its id), held until commit. See the lock order above.';

-- Every function takes this advisory lock just before it locks an org's credit_holds row, so that
-- reserves waiting for the row wait in one first-come first-served queue: on a row lock itself,
-- every commit wakes all the waiters to contend again, which costs a busy org a third of its rate
-- from 8 to 32 connections.
create function ledger.lock_holds(p_org_id uuid) returns void
  language sql volatile as $$
  select pg_catalog.pg_advisory_xact_lock(('x' || pg_catalog.left(pg_catalog.replace(p_org_id::text, '-', ''), 8))::bit(32)::int,
    ('x' || pg_catalog.substr(pg_catalog.replace(p_org_id::text, '-', ''), 9, 8))::bit(32)::int)
$$;
comment on function ledger.lock_holds(uuid) is 'Takes the organization''s holds (a transaction-level advisory lock keyed by the first 64 bits of its id, in the two-key space, so apart from lock_ledger), held until commit; then lock its credit_holds row.';

-- Everything but a reserve's UPDATE locks the holds together with the balance row: the holds'
-- queue, the credit_holds row, then the credit_balances row, whose locked state it returns (all
-- fields null for an organization that does not exist). The ledger lock, when needed, comes first.
create function ledger.lock_holds_and_balance(p_org_id uuid) returns public.credit_balances
  language plpgsql volatile set search_path = '' as $$
declare
  v_balance public.credit_balances;
begin
  perform ledger.lock_holds(p_org_id);
  perform 1 from public.credit_holds where organization_id = p_org_id for update;
  select * into v_balance from public.credit_balances where organization_id = p_org_id for update;
  return v_balance;
end;
$$;
comment on function ledger.lock_holds_and_balance(uuid) is 'Takes the organization''s holds (lock_holds and its credit_holds row) and its credit_balances row; returns that row as locked (all null when the org does not exist).';

-- Steps 2 to 4 together, for whoever changes grants or lowers what is available (grant, clawback,
-- the expiry jobs, a release or reserve that finds grants due): the ledger lock, then the holds and
-- the balance row, which it returns as locked. ORGANIZATION_NOT_FOUND when the org has no balance row.
create function ledger.lock_organization(p_org_id uuid) returns public.credit_balances
  language plpgsql volatile set search_path = '' as $$
declare
  v_balance public.credit_balances;
begin
  perform ledger.lock_ledger(p_org_id);
  v_balance := ledger.lock_holds_and_balance(p_org_id);
  if v_balance.organization_id is null then
    perform ledger.raise_error('ORGANIZATION_NOT_FOUND', format('org %s does not exist', p_org_id), jsonb_build_object('organization_id', p_org_id));
  end if;
  return v_balance;
end;
$$;
comment on function ledger.lock_organization(uuid) is 'Takes the organization''s ledger lock, then its holds and credit_balances row (lock order steps 2 to 4); returns that row as locked. ORGANIZATION_NOT_FOUND when it has none.';

-- What the organization's open reservations hold, read from its rows (ledger.reserved_in).
create function ledger.reserved_of(p_org_id uuid) returns numeric
  language sql stable as $$
  select ledger.reserved_in(h, b)
  from public.credit_holds h join public.credit_balances b on b.organization_id = h.organization_id
  where h.organization_id = p_org_id
$$;
comment on function ledger.reserved_of(uuid) is 'The credits the organization''s open reservations hold (credit_holds.held_credits - credit_balances.released_credits).';

-- ---------------------------------------------------------------------------------------------
-- Lazy expiry of one organization's grants (the caller holds the organization's locks)
-- ---------------------------------------------------------------------------------------------

-- Why next_expiry_at: on one busy organization every reserve and settle queue on the organization's
-- lock, which each holds until its commit is durable; the work done while holding it sets the
-- organization's throughput. So credit_balances keeps the earliest expiry among the organization's
-- grants that hold credits (next_expiry_at, never later than the truth), and a call learns from the
-- row it locks, without a query, whether any grant is due for lazy expiry. A new grant that expires
-- may move it earlier (this trigger); expire_due_grants recomputes it.
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

-- Example: grants A (10 left, expired an hour ago) and B (5 left, never expires), 3 reserved.
-- Room = 15 - 3 = 12 >= 10, so A expires entirely: one `expire` entry of -10, allowance bucket -10.
-- Had 8 been reserved, room = 7: A loses 7 now and keeps 3 for the open hold; the next call after
-- that hold resolves expires the rest. Expiry never makes available negative.
-- It also recomputes next_expiry_at, and is skipped by callers whose locked balance row says
-- nothing can be due. It marks the organization's used-up grants that are past expiry (expired_at),
-- so the sweep's index (credit_grants_due_idx, on expired_at) stops returning them.
create function ledger.expire_due_grants(p_org_id uuid, p_now timestamptz) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_due numeric(20, 3);
  v_balance public.credit_balances;
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
  v_after := ledger.balance_of(v_balance);
  -- Credits held by open reservations stay until those resolve.
  v_left := least(v_due, greatest(0, v_after - ledger.reserved_of(p_org_id)));
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
comment on function ledger.expire_due_grants(uuid, timestamptz) is 'Zeroes the organization''s grants past expires_at (writing expire entries), except credits still held by open reservations, which expire once those resolve; then recomputes next_expiry_at. The caller must hold the organization''s ledger lock and its credit_balances row lock.';

-- ---------------------------------------------------------------------------------------------
-- grant_credits
-- ---------------------------------------------------------------------------------------------

-- The grant an (org, external_ref) already made: returned when the arguments match (a repeat),
-- IDEMPOTENCY_CONFLICT when they do not; a row of nulls when there is none.
create function ledger.existing_grant(p_org_id uuid, p_external_ref text, p_amount numeric, p_source text) returns public.credit_grants
  language plpgsql stable set search_path = '' as $$
declare
  v_grant public.credit_grants;
begin
  select * into v_grant from public.credit_grants where organization_id = p_org_id and external_ref = p_external_ref;
  if found and (v_grant.amount_credits <> p_amount or v_grant.source <> p_source) then
    perform ledger.raise_error('IDEMPOTENCY_CONFLICT',
      format('grant %s of org %s already has external reference %s with other arguments', v_grant.id, p_org_id, p_external_ref),
      jsonb_build_object('grant_id', v_grant.id, 'amount', v_grant.amount_credits::text, 'source', v_grant.source));
  end if;
  return v_grant;
end;
$$;
comment on function ledger.existing_grant(uuid, text, numeric, text) is 'The grant (org, external_ref) already made, when its amount and source match; IDEMPOTENCY_CONFLICT when they differ; nulls when there is none.';

-- Why: a plan allowance lasts one period. grant_credits defaulted its expiry to the end of the
-- organization's current period, but with no subscription (no period) the allowance silently never
-- expired. Now such a grant needs an explicit p_expires_at (INVALID_INPUT otherwise). Nothing else
-- in grant_credits changes.
--
-- Example: org with debt 3 (an earlier chargeback). grant_credits(org, 10, 'purchase', 'cs_123')
-- inserts a grant of amount 10 with remaining 7 (3 repay the debt), expiring 365 days from now,
-- writes one `grant` entry of +10 (balance -3 -> 7) and sets debt to 0. Calling it again with
-- 'cs_123' returns the same grant and changes nothing.
create function public.grant_credits(
  p_org_id uuid,
  p_amount numeric,
  p_source text,
  p_external_ref text,
  p_expires_at timestamptz default null,
  p_priority int default null,
  p_effective_at timestamptz default null,
  p_description text default null,
  p_metadata jsonb default '{}'::jsonb,
  p_now timestamptz default now()
) returns public.credit_grants
  language plpgsql volatile set search_path = '' as $$
declare
  v_grant public.credit_grants;
  v_balance public.credit_balances;
  v_effective timestamptz := coalesce(p_effective_at, p_now);
  v_expires timestamptz := p_expires_at;
  v_repay numeric(20, 3);
  v_remaining numeric(20, 3);
  v_bucket text;
begin
  perform ledger.check_amount(p_amount, 'amount');
  if p_source is null or p_source not in ('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration') then
    perform ledger.raise_error('INVALID_INPUT', format('unknown grant source %s for org %s', coalesce(p_source, 'null'), p_org_id),
      jsonb_build_object('field', 'source', 'value', p_source));
  end if;
  if p_external_ref is null or length(btrim(p_external_ref)) = 0 then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s needs an external reference', p_org_id),
      jsonb_build_object('field', 'external_ref'));
  end if;

  -- Idempotency: a committed grant with this reference is final.
  v_grant := ledger.existing_grant(p_org_id, p_external_ref, p_amount, p_source);
  if v_grant.id is not null then
    return v_grant;
  end if;

  if v_effective > p_now then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s cannot take effect in the future (%s)', p_org_id, v_effective),
      jsonb_build_object('field', 'effective_at', 'value', v_effective));
  end if;
  if v_expires is null and p_source in ('purchase', 'auto_top_up') then
    v_expires := v_effective + interval '365 days';
  elsif v_expires is null and p_source = 'plan_allowance' then
    select s.current_period_end into v_expires
    from public.organization_subscriptions s where s.organization_id = p_org_id;
    if v_expires is null then
      perform ledger.raise_error('INVALID_INPUT',
        format('a plan allowance for org %s needs an expiry: the org has no subscription period to end it', p_org_id),
        jsonb_build_object('field', 'expires_at'));
    end if;
  end if;
  if v_expires is not null and v_expires <= greatest(p_now, v_effective) then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s would already be expired (%s)', p_org_id, v_expires),
      jsonb_build_object('field', 'expires_at', 'value', v_expires));
  end if;

  v_balance := ledger.lock_organization(p_org_id);
  -- Another transaction may have granted with this reference while we waited for the lock.
  v_grant := ledger.existing_grant(p_org_id, p_external_ref, p_amount, p_source);
  if v_grant.id is not null then
    return v_grant;
  end if;

  perform ledger.expire_due_grants(p_org_id, p_now);
  select * into v_balance from public.credit_balances where organization_id = p_org_id;

  -- A grant repays debt first.
  v_repay := least(v_balance.debt_credits, p_amount);
  v_remaining := p_amount - v_repay;
  insert into public.credit_grants
    (organization_id, source, amount_credits, remaining_credits, priority, effective_at, expires_at, external_ref,
     description, metadata, created_at, updated_at)
  values
    (p_org_id, p_source, p_amount, v_remaining, coalesce(p_priority, 100), v_effective, v_expires, p_external_ref,
     p_description, coalesce(p_metadata, '{}'::jsonb), p_now, p_now)
  returning * into v_grant;

  v_bucket := ledger.bucket_of(p_source);
  update public.credit_balances
  set allowance_remaining_credits = allowance_remaining_credits + case when v_bucket = 'allowance' then v_remaining else 0 end,
      purchased_remaining_credits = purchased_remaining_credits + case when v_bucket = 'purchased' then v_remaining else 0 end,
      bonus_remaining_credits = bonus_remaining_credits + case when v_bucket = 'bonus' then v_remaining else 0 end,
      debt_credits = debt_credits - v_repay,
      updated_at = p_now
  where organization_id = p_org_id
  returning * into v_balance;

  insert into public.credit_ledger_entries
    (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, external_ref, description, created_at)
  values (
    p_org_id, case when p_source = 'adjustment' then 'adjustment' else 'grant' end, p_amount,
    ledger.balance_of(v_balance),
    v_grant.id, p_external_ref,
    coalesce(p_description, p_source) || case when v_repay > 0 then format(' (%s repaid debt)', v_repay) else '' end,
    p_now);
  return v_grant;
end;
$$;
comment on function public.grant_credits(uuid, numeric, text, text, timestamptz, int, timestamptz, text, jsonb, timestamptz) is
  'Adds a bucket of credits to an organization. The same (org, external_ref) again returns the existing grant and changes nothing (IDEMPOTENCY_CONFLICT if amount or source differ). A grant first repays debt. Default expiry: purchases and auto top-ups 365 days after effective_at, a plan allowance at the end of the current period, others never. Default priority 100 (lower burns first).';

-- ---------------------------------------------------------------------------------------------
-- reserve_credits
-- ---------------------------------------------------------------------------------------------

-- Why its shape: the plan, limits and prices of a reserve are read in one statement before the
-- lock (the first version did a dozen statements, half of them under the lock).
-- The reservation row's index entries and foreign-key checks were the larger part of what
-- reserve_credits did while holding the organization's lock (measured with auto_explain). The row
-- is now inserted before the lock is taken; a refusal still raises and so removes it. Grants that
-- come due while waiting for the lock are handled by trying the hold once more instead of calling
-- the function again.
-- After that it still expired due grants under the organization's lock *before* inserting its
-- reservation row. Two calls with one idempotency key could then deadlock (each waiting for what
-- the other held: the lock, and the key's row), in the rare case that a grant had just come due.
-- The hold's UPDATE already refuses while a grant is due, and the loop after it expires and tries
-- again, so that early step is gone: the reservation row is always inserted before any lock.
-- A reserve adds its hold to credit_holds under the org's holds, not under the ledger lock, so it
-- does not queue behind settles; it takes the ledger lock only when refused (a refused UPDATE
-- locks nothing and its subtransaction gives the holds back, so the lock order holds).
--
-- Example: Acme (pro) has 500 allowance + 1,400 purchased, nothing reserved.
-- reserve_credits(acme, 2.5, 'req-1', 'summarization', 'enhanced') checks the plan includes
-- summarization at enhanced (served by anthropic/claude-haiku-4-5), counts the call against the
-- hourly and daily limits, checks spend limits, and holds 2.500: reserved 0 -> 2.5, available
-- 1,900 -> 1,897.5. The hold expires after 600 s unless settled or released. 'req-1' again returns
-- the same reservation.
create function public.reserve_credits(
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
  v_required_plan text;
  v_attempt int;
  v_held boolean;
  v_reserved numeric(20, 3);
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
    l.per_call_limit_credits
  into v_org_exists, v_plan_id, v_in_plan, v_limit_hour, v_limit_day, v_quality_model_id, v_model_id, v_pricing,
       v_daily, v_monthly, v_per_call
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
        and (v_daily is null
          or case when b.spend_day = v_today then b.spend_day_credits else 0 end + ledger.reserved_in(h, b) + p_amount
            <= v_daily)
        and (v_monthly is null
          or case when b.spend_month = v_month then b.spend_month_credits else 0 end + ledger.reserved_in(h, b) + p_amount
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
    v_spent_day := case when v_balance.spend_day = v_today then v_balance.spend_day_credits else 0 end + v_reserved;
    if v_daily is not null and v_spent_day + p_amount > v_daily then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its daily limit of %s (%s used or held today)', p_amount, p_org_id, v_daily, v_spent_day),
        jsonb_build_object('limit', 'daily', 'limit_credits', v_daily::text, 'used', v_spent_day::text, 'required', p_amount::text,
          'retry_after_seconds', ceil(extract(epoch from ((v_today + 1)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    v_spent_month := case when v_balance.spend_month = v_month then v_balance.spend_month_credits else 0 end + v_reserved;
    if v_monthly is not null and v_spent_month + p_amount > v_monthly then
      perform ledger.raise_error('SPEND_LIMIT_EXCEEDED',
        format('reserving %s for org %s passes its monthly limit of %s (%s used or held this month)', p_amount, p_org_id, v_monthly, v_spent_month),
        jsonb_build_object('limit', 'monthly', 'limit_credits', v_monthly::text, 'used', v_spent_month::text, 'required', p_amount::text,
          'retry_after_seconds',
          ceil(extract(epoch from (((v_month + interval '1 month')::date)::timestamp at time zone 'UTC') - p_now))::int));
    end if;
    v_available := ledger.balance_of(v_balance) - v_reserved;
    perform ledger.raise_error('INSUFFICIENT_CREDITS',
      format('org %s has %s credits available, %s required', p_org_id, v_available, p_amount),
      jsonb_build_object('available', v_available::text, 'required', p_amount::text));
  end loop;

  -- Rate limits: fixed UTC hour and day windows, counted per reservation (under the org's holds).
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

  return v_reservation;
end;
$$;
comment on function public.reserve_credits(uuid, numeric, text, text, text, text, jsonb, uuid, int, timestamptz) is
  'Holds credits for one AI call. The same (org, idempotency_key) returns the same reservation (IDEMPOTENCY_CONFLICT if amount, capability or quality level differ). Checks, in order: the plan includes the capability (CAPABILITY_NOT_IN_PLAN) and quality level (QUALITY_NOT_IN_PLAN), the rate limits (RATE_LIMITED), the spend limits (SPEND_LIMIT_EXCEEDED), then available (INSUFFICIENT_CREDITS). The hold expires after p_ttl_seconds (default 600).';

-- ---------------------------------------------------------------------------------------------
-- Resolving a reservation: settle, release, expire
-- ---------------------------------------------------------------------------------------------

-- The reservation, after checking it exists for the caller's org and before any lock.
create function ledger.find_reservation(p_reservation_id uuid, p_org_id uuid) returns uuid
  language plpgsql stable set search_path = '' as $$
declare
  v_org_id uuid;
begin
  if p_reservation_id is null then
    perform ledger.raise_error('INVALID_INPUT', 'a reservation id is required', jsonb_build_object('field', 'reservation_id'));
  end if;
  select r.organization_id into v_org_id from public.credit_reservations r where r.id = p_reservation_id;
  -- Another org's reservation is reported exactly like a missing one: one tenant cannot learn
  -- that another's reservation exists.
  if v_org_id is null or (p_org_id is not null and v_org_id <> p_org_id) then
    perform ledger.raise_error('RESERVATION_NOT_FOUND',
      format('reservation %s not found%s', p_reservation_id, case when p_org_id is null then '' else format(' for org %s', p_org_id) end),
      jsonb_build_object('reservation_id', p_reservation_id));
  end if;
  return v_org_id;
end;
$$;
comment on function ledger.find_reservation(uuid, uuid) is 'The organization of a reservation; RESERVATION_NOT_FOUND when there is none, or when it belongs to another org than p_org_id.';

-- Locks an open reservation for resolving it: RESERVATION_ALREADY_RESOLVED unless it is open.
-- The reservation comes first in the lock order: the caller holds none of the org's locks yet.
create function ledger.lock_open_reservation(p_reservation_id uuid, p_org_id uuid) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_reservation public.credit_reservations;
begin
  select * into v_reservation from public.credit_reservations where id = p_reservation_id for update;
  if v_reservation.status <> 'open' then
    perform ledger.raise_error('RESERVATION_ALREADY_RESOLVED',
      format('reservation %s of org %s is already %s', p_reservation_id, p_org_id, v_reservation.status),
      jsonb_build_object('reservation_id', p_reservation_id, 'status', v_reservation.status,
        'settled_amount', v_reservation.settled_amount_credits::text, 'resolved_at', v_reservation.resolved_at));
  end if;
  return v_reservation;
end;
$$;
comment on function ledger.lock_open_reservation(uuid, uuid) is 'Locks a reservation (FOR UPDATE); RESERVATION_ALREADY_RESOLVED unless it is open.';

-- Example: a reservation holds 5 of an org with allowance grant A (2 left) and purchased grant B
-- (100 left); available 97. settle_reservation(r, 3.25) consumes 2 from A and 1.25 from B (two
-- `consume` entries, balance 102 -> 100 -> 98.75), returns the other 1.75 of the hold (available
-- 98.75), and marks the reservation settled with 3.250. settle_reservation(r, 120) instead would
-- charge 5 + 97 = 102 (all there is) and set capped = true. A second settle raises
-- RESERVATION_ALREADY_RESOLVED and changes nothing.
--
-- Why its shape: on one busy organization, reserves queue on the org's holds and settles on the
-- ledger lock, apart, and each holds its queue until its commit is durable, so what a settle does
-- under the ledger lock sets the org's rate. It resolves the reservation first, before the lock
-- (with the actual amount, in one UPDATE that also locks the row; in the rare case where fewer
-- credits remain than that, it corrects the row under the lock). Under the ledger lock it then
-- draws the charge from grants in burn order with their consume entries (an UPDATE and an INSERT
-- when the first grant covers it, which is most of the time; one statement walking the grants
-- otherwise), adds the day's usage, reading the buckets of credit_balances without locking the row
-- (only ledger-lock holders change them), and last adds its hold to released_credits in one
-- UPDATE. It does not take the holds, so it never waits for a reserve, except in three cases, which
-- take them first: a charge above the hold (how much beyond it is available depends on what
-- reserves hold), grants due to expire, and a caller not in READ
-- COMMITTED (whose snapshot would not show what the previous lock holder committed; the row locks
-- make such a caller fail with a serialization error instead of using stale numbers).
create function public.settle_reservation(
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
  end if;

  v_total := ledger.remaining_of(v_balance);
  v_before := ledger.balance_of(v_balance);
  -- The held amount, plus beyond it only what is available; never more than remains. (Up to the
  -- hold, what is reserved does not matter, and is not read: the middle term is then never the least.)
  v_charge := least(
    p_actual_amount,
    v_reservation.amount_credits + greatest(0, v_before - v_reserved),
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
      spend_day_credits = case when b.spend_day = (p_now at time zone 'UTC')::date then b.spend_day_credits else 0 end + v_charge,
      spend_day = (p_now at time zone 'UTC')::date,
      spend_month_credits = case when b.spend_month = date_trunc('month', p_now at time zone 'UTC')::date then b.spend_month_credits else 0 end
        + v_charge,
      spend_month = date_trunc('month', p_now at time zone 'UTC')::date,
      updated_at = p_now
  where b.organization_id = v_org_id;

  -- Credits of expired grants that this hold kept back can expire now.
  if v_balance.next_expiry_at <= p_now then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;
comment on function public.settle_reservation(uuid, numeric, uuid, jsonb, timestamptz) is
  'Resolves an open reservation with the actual amount: consumes it from grants in burn order (one consume entry per grant drawn), returns the rest of the hold. More than held is charged only as far as credits are available (capped = true). RESERVATION_ALREADY_RESOLVED when not open; RESERVATION_NOT_FOUND when missing or another org''s (p_org_id).';

-- Release adds its hold to released_credits and changes nothing else, so it takes neither the
-- ledger lock nor the holds, unless grants are due to expire (then all in their order).
create function public.release_reservation(
  p_reservation_id uuid,
  p_reason text default null,
  p_org_id uuid default null,
  p_now timestamptz default now()
) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_org_id uuid;
  v_due boolean;
  v_reservation public.credit_reservations;
begin
  -- One statement, as settle's common case: an open reservation of this org, released (which
  -- locks its row, first in the lock order).
  update public.credit_reservations r
  set status = 'released', release_reason = p_reason, resolved_at = p_now, updated_at = p_now
  where r.id = p_reservation_id and r.status is not distinct from 'open' and (p_org_id is null or r.organization_id = p_org_id)
  returning * into v_reservation;
  if not found then
    -- Missing, another org's, or already resolved: each raises its error here.
    perform ledger.lock_open_reservation(p_reservation_id, ledger.find_reservation(p_reservation_id, p_org_id));
  end if;
  v_org_id := v_reservation.organization_id;
  select b.next_expiry_at <= p_now into v_due from public.credit_balances b where b.organization_id = v_org_id;
  if v_due then
    perform ledger.lock_organization(v_org_id);
  end if;
  update public.credit_balances
  set released_credits = released_credits + v_reservation.amount_credits, updated_at = p_now
  where organization_id = v_org_id;
  if v_due then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;
comment on function public.release_reservation(uuid, text, uuid, timestamptz) is
  'Resolves an open reservation without charging: every held credit returns to available. RESERVATION_ALREADY_RESOLVED when not open; RESERVATION_NOT_FOUND when missing or another org''s (p_org_id).';

-- The sweep takes organizations one at a time in id order, and within one the locks in their order
-- (the due reservations in id order, the ledger lock, holds, balance row), like every other
-- function; a reservation settled or released meanwhile is skipped.
create function public.expire_reservations(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_count integer := 0;
  v_org record;
  v_held numeric(20, 3);
  v_n integer;
begin
  for v_org in
    select distinct r.organization_id from public.credit_reservations r
    where r.status = 'open' and r.expires_at <= p_now
    order by r.organization_id
  loop
    with expired as (
      update public.credit_reservations r
      set status = 'expired', resolved_at = p_now, updated_at = p_now
      where r.id in (
        select r2.id from public.credit_reservations r2
        where r2.organization_id = v_org.organization_id and r2.status = 'open' and r2.expires_at <= p_now
        order by r2.id
        for update
      )
      and r.status is not distinct from 'open'
      returning r.amount_credits
    )
    select count(*), coalesce(sum(amount_credits), 0) into v_n, v_held from expired;
    if v_n > 0 then
      -- expire_due_grants needs the ledger lock, the holds and the balance row.
      perform ledger.lock_organization(v_org.organization_id);
      update public.credit_balances
      set released_credits = released_credits + v_held, updated_at = p_now
      where organization_id = v_org.organization_id;
      perform ledger.expire_due_grants(v_org.organization_id, p_now);
      v_count := v_count + v_n;
    end if;
  end loop;
  return v_count;
end;
$$;
comment on function public.expire_reservations(timestamptz) is
  'The job: resolves every open reservation past expires_at as expired, returning its hold to available. Returns how many it expired. Organizations are taken one at a time in id order.';

-- The sweep finds organizations by grants not yet marked expired (expired_at is null), which its
-- index serves without depending on remaining_credits (see credit_grants_due_idx).
create function public.expire_grants(p_now timestamptz default now()) returns integer
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
    perform ledger.lock_organization(v_org.organization_id);
    v_count := v_count + ledger.expire_due_grants(v_org.organization_id, p_now);
  end loop;
  return v_count;
end;
$$;
comment on function public.expire_grants(timestamptz) is
  'The job: zeroes every grant past expires_at with an expire ledger entry (credits held by open reservations wait until those resolve). Returns how many grants it touched. Every money function also does this lazily for its own organization, so expired credits never count as available.';

-- ---------------------------------------------------------------------------------------------
-- clawback_credits
-- ---------------------------------------------------------------------------------------------

-- Example: a £10 top-up (grant G, 500 credits) is refunded after 480 were used; the org has 30
-- left elsewhere. clawback_credits(org, 500, 're_123', 'refund', G) takes G's 20, then 30 in burn
-- order, and records debt 450: one `clawback` entry of -500, balance 50 -> -450. Available is
-- negative, so reserves fail with INSUFFICIENT_CREDITS until grants repay the debt.
create function public.clawback_credits(
  p_org_id uuid,
  p_amount numeric,
  p_external_ref text,
  p_reason text default null,
  p_grant_id uuid default null,
  p_now timestamptz default now()
) returns public.credit_ledger_entries
  language plpgsql volatile set search_path = '' as $$
declare
  v_entry public.credit_ledger_entries;
  v_balance public.credit_balances;
  v_left numeric(20, 3);
  v_take numeric(20, 3);
  v_allowance numeric(20, 3) := 0;
  v_purchased numeric(20, 3) := 0;
  v_bonus numeric(20, 3) := 0;
  g record;
begin
  perform ledger.check_amount(p_amount, 'amount');
  if p_external_ref is null or length(btrim(p_external_ref)) = 0 then
    perform ledger.raise_error('INVALID_INPUT', format('a clawback for org %s needs an external reference', p_org_id),
      jsonb_build_object('field', 'external_ref'));
  end if;
  v_balance := ledger.lock_organization(p_org_id);
  select * into v_entry from public.credit_ledger_entries
  where organization_id = p_org_id and entry_type = 'clawback' and external_ref = p_external_ref;
  if found then
    if v_entry.amount_credits <> -p_amount then
      perform ledger.raise_error('IDEMPOTENCY_CONFLICT',
        format('clawback %s of org %s already used external reference %s for %s credits', v_entry.id, p_org_id, p_external_ref, -v_entry.amount_credits),
        jsonb_build_object('ledger_entry_id', v_entry.id, 'amount', (-v_entry.amount_credits)::text));
    end if;
    return v_entry;
  end if;
  if p_grant_id is not null and not exists (select 1 from public.credit_grants where id = p_grant_id and organization_id = p_org_id) then
    perform ledger.raise_error('INVALID_INPUT', format('grant %s does not belong to org %s', p_grant_id, p_org_id),
      jsonb_build_object('field', 'grant_id', 'value', p_grant_id));
  end if;

  perform ledger.expire_due_grants(p_org_id, p_now);
  v_left := p_amount;
  for g in
    select id, source, remaining_credits
    from public.credit_grants
    where organization_id = p_org_id and remaining_credits > 0 and expired_at is null
    order by id is distinct from p_grant_id, (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id
    for update
  loop
    v_take := least(g.remaining_credits, v_left);
    update public.credit_grants set remaining_credits = remaining_credits - v_take, updated_at = p_now where id = g.id;
    case ledger.bucket_of(g.source)
      when 'allowance' then v_allowance := v_allowance + v_take;
      when 'purchased' then v_purchased := v_purchased + v_take;
      else v_bonus := v_bonus + v_take;
    end case;
    v_left := v_left - v_take;
    exit when v_left = 0;
  end loop;

  -- What could not be taken becomes debt.
  update public.credit_balances
  set allowance_remaining_credits = allowance_remaining_credits - v_allowance,
      purchased_remaining_credits = purchased_remaining_credits - v_purchased,
      bonus_remaining_credits = bonus_remaining_credits - v_bonus,
      debt_credits = debt_credits + v_left,
      updated_at = p_now
  where organization_id = p_org_id
  returning * into v_balance;

  insert into public.credit_ledger_entries
    (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, external_ref, description, created_at)
  values (
    p_org_id, 'clawback', -p_amount,
    ledger.balance_of(v_balance),
    p_grant_id, p_external_ref,
    coalesce(p_reason, 'clawback') || case when v_left > 0 then format(' (%s became debt)', v_left) else '' end,
    p_now)
  returning * into v_entry;
  return v_entry;
end;
$$;
comment on function public.clawback_credits(uuid, numeric, text, text, uuid, timestamptz) is
  'Takes credits back after a refund or chargeback, even past zero: from p_grant_id first when given, then in burn order; what is missing becomes debt (available goes negative and reserves fail until grants repay it). Writes one clawback entry and returns it. Idempotent per (org, external_ref).';

-- ---------------------------------------------------------------------------------------------
-- Reading the balance
-- ---------------------------------------------------------------------------------------------

-- Reads the maintained row and corrects it, without writing, for grants already past expiry that
-- no call has expired yet (the same rule as ledger.expire_due_grants).
create function public.get_credit_balance(p_org_id uuid, p_now timestamptz default now())
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
comment on function public.get_credit_balance(uuid, timestamptz) is
  'An organization''s balance at p_now: allowance, purchased and bonus remaining, debt, reserved, balance (remaining - debt), available (balance - reserved; negative only after a clawback), and the next expiry time with the credits that expire then. No row for an unknown org.';

create view public.organization_credit_balances as
select
  b.organization_id,
  gb.allowance_remaining_credits,
  gb.purchased_remaining_credits,
  gb.bonus_remaining_credits,
  gb.debt_credits,
  gb.reserved_credits,
  gb.balance_credits,
  gb.available_credits,
  gb.next_expiry_at,
  gb.next_expiry_credits,
  gb.updated_at
from public.credit_balances b
cross join lateral public.get_credit_balance(b.organization_id, now()) gb;
comment on view public.organization_credit_balances is
  'Each organization''s balance now (see get_credit_balance). Filter on organization_id: the filter reaches the credit_balances primary key, so reading one org costs a few index probes.';

-- Grants that still hold credits now, in burn order (burn_rank 1 burns first).
create view public.organization_active_grants as
select
  g.id,
  g.organization_id,
  g.source,
  g.amount_credits,
  g.remaining_credits,
  g.amount_credits - g.remaining_credits as used_credits,
  g.priority,
  g.effective_at,
  g.expires_at,
  g.external_ref,
  g.description,
  g.created_at,
  row_number() over (
    partition by g.organization_id
    order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id
  ) as burn_rank
from public.credit_grants g
where g.remaining_credits > 0 and g.expired_at is null and (g.expires_at is null or g.expires_at > now());
comment on view public.organization_active_grants is 'Grants that hold credits and have not expired, with what is used and what remains, ranked in burn order (1 burns first).';

create function public.get_usage_breakdown(p_org_id uuid, p_from date, p_to date)
returns setof public.organization_usage_daily
  language sql stable set search_path = '' as $$
  select u.*
  from public.organization_usage_daily u
  where u.organization_id = p_org_id and u.day between p_from and p_to
  order by u.day, u.capability_code nulls last, u.quality_level_code nulls last
$$;
comment on function public.get_usage_breakdown(uuid, date, date) is 'Settled usage of an organization per UTC day, capability and quality level, from p_from to p_to inclusive.';
