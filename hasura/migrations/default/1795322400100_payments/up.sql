-- Why: the side of the ledger where money moves (issue 7). Stripe's webhooks, the auto top-up
-- sweep and the billing jobs must never grant twice, never lose a payment and never charge a card
-- twice for one top-up, even when two deliveries or two jobs race. So each money step is one SQL
-- function that takes its row lock, checks the state it finds, and is idempotent: fulfilling a
-- checkout, a refund or a dispute, claiming and resolving an auto top-up attempt, rolling a billing
-- period and granting its allowance, changing plan, and the usage notifications.
--
-- Lock order (extends the ledger's): organization_subscriptions / auto_topup_settings /
-- topup_purchases row -> auto_topup_attempts row -> the organization's ledger lock, holds and
-- credit_balances row (taken inside grant_credits / clawback_credits) -> grants.

-- Subscription events may arrive out of order: the newest Stripe event applied is remembered, and an
-- older one changes nothing.
alter table public.organization_subscriptions add column stripe_event_at timestamptz;
comment on column public.organization_subscriptions.stripe_event_at is
  'The creation time of the newest Stripe subscription event applied to this row; older events are ignored.';

-- ---------------------------------------------------------------------------------------------
-- Top-up purchases
-- ---------------------------------------------------------------------------------------------

-- Example: purchase P (pending, 1,400 credits, checkout session cs_1). Stripe reports cs_1 paid:
-- fulfil_topup_purchase('cs_1', 'pi_1') grants 1,400 purchase credits with external_ref 'cs_1',
-- marks P paid and links the grant. The same event again, or checkout.session.async_payment_succeeded
-- after it, finds P's grant and changes nothing.
create function public.fulfil_topup_purchase(
  p_checkout_session_id text,
  p_payment_intent_id text default null,
  p_now timestamptz default now()
) returns public.topup_purchases
  language plpgsql volatile set search_path = '' as $$
declare
  v_purchase public.topup_purchases;
  v_grant public.credit_grants;
  v_package_name text;
begin
  select * into v_purchase from public.topup_purchases where stripe_checkout_session_id = p_checkout_session_id for update;
  if not found then
    return null;
  end if;
  if v_purchase.grant_id is not null then
    return v_purchase;
  end if;
  select name into v_package_name from public.topup_packages where id = v_purchase.package_id;
  v_grant := public.grant_credits(v_purchase.organization_id, v_purchase.credits, 'purchase', p_checkout_session_id,
    p_description => format('Top-up: %s', v_package_name),
    p_metadata => jsonb_build_object('purchase_id', v_purchase.id, 'package_id', v_purchase.package_id),
    p_now => p_now);
  update public.topup_purchases
  set status = case when status in ('pending', 'failed', 'canceled') then 'paid' else status end,
      grant_id = v_grant.id,
      stripe_payment_intent_id = coalesce(p_payment_intent_id, stripe_payment_intent_id),
      updated_at = p_now
  where id = v_purchase.id
  returning * into v_purchase;
  return v_purchase;
end;
$$;
comment on function public.fulfil_topup_purchase(text, text, timestamptz) is
  'Grants the credits of the top-up purchase of a paid checkout session, once: the grant''s external_ref is the session id, and a purchase already linked to its grant is returned unchanged. Null when no purchase has that session.';

create function public.fail_topup_purchase(
  p_checkout_session_id text,
  p_status text,
  p_now timestamptz default now()
) returns public.topup_purchases
  language plpgsql volatile set search_path = '' as $$
declare
  v_purchase public.topup_purchases;
begin
  if p_status is null or p_status not in ('failed', 'canceled') then
    perform ledger.raise_error('INVALID_INPUT', format('a purchase can fail as failed or canceled, not %s', coalesce(p_status, 'null')),
      jsonb_build_object('field', 'status', 'value', p_status));
  end if;
  update public.topup_purchases
  set status = p_status, updated_at = p_now
  where stripe_checkout_session_id = p_checkout_session_id and status = 'pending' and grant_id is null
  returning * into v_purchase;
  if not found then
    select * into v_purchase from public.topup_purchases where stripe_checkout_session_id = p_checkout_session_id;
  end if;
  return v_purchase;
end;
$$;
comment on function public.fail_topup_purchase(text, text, timestamptz) is
  'Marks a pending top-up purchase failed or canceled. A purchase that was paid meanwhile (a late failure event) is returned unchanged.';

-- The credits that match a share of a purchase's price: credits x minor / price, rounded up to
-- 0.001 (the refunded customer never keeps a fraction of a credit they got their money back for).
-- Callers take differences of this function of cumulative amounts, so a series of partial refunds
-- adds up to exactly the purchase's credits when the whole price is refunded.
create function public.credits_for_minor(p_credits numeric, p_minor bigint, p_price_minor bigint) returns numeric
  language sql immutable set search_path = '' as $$
  select least(p_credits, ceil(p_credits * p_minor * 1000 / p_price_minor) / 1000)::numeric(20, 3);
$$;
comment on function public.credits_for_minor(numeric, bigint, bigint) is
  'Credits matching p_minor of a purchase of p_credits for p_price_minor: credits x minor / price, rounded up to 0.001, at most p_credits.';

-- The refund rule of purchases and auto top-ups alike. Stripe's amount_refunded is cumulative, so
-- what is owed back is the credits of the newly refunded part: credits_for_minor of the new total
-- minus that of the total already handled (0 when the new total is not larger: a duplicate or
-- out-of-order event). They are clawed back from the grant the payment made, then in burn order.
-- A payment that granted nothing (refunded before it was fulfilled, or failed) has nothing to take
-- back: 0. INVALID_INPUT for a total outside 0..price. Returns the credits clawed back.
create function ledger.claw_back_refund(
  p_what text,
  p_id uuid,
  p_org_id uuid,
  p_credits numeric,
  p_price_minor bigint,
  p_refunded_before_minor bigint,
  p_refunded_minor bigint,
  p_grant_id uuid,
  p_reference text,
  p_description text,
  p_now timestamptz
) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_take numeric(20, 3);
begin
  if p_refunded_minor is null or p_refunded_minor < 0 or p_refunded_minor > p_price_minor then
    perform ledger.raise_error('INVALID_INPUT',
      format('refunded amount %s of %s %s is outside 0..%s', p_refunded_minor, p_what, p_id, p_price_minor),
      jsonb_build_object('field', 'amount_refunded_minor', 'value', p_refunded_minor));
  end if;
  if p_refunded_minor <= p_refunded_before_minor or p_grant_id is null then
    return 0;
  end if;
  v_take := public.credits_for_minor(p_credits, p_refunded_minor, p_price_minor)
    - public.credits_for_minor(p_credits, p_refunded_before_minor, p_price_minor);
  if v_take > 0 then
    perform public.clawback_credits(p_org_id, v_take, p_reference, p_description, p_grant_id, p_now);
  end if;
  return v_take;
end;
$$;
comment on function ledger.claw_back_refund(text, uuid, uuid, numeric, bigint, bigint, bigint, uuid, text, text, timestamptz) is
  'The credits clawed back for the newly refunded part of a payment (Stripe''s cumulative amount_refunded): taken from its grant, 0 when it has none; INVALID_INPUT for an amount outside 0..price.';

-- The top-up purchase a Stripe refund or dispute is about, by its payment intent or its charge (the
-- events carry one or both; the oldest purchase if they name two), locked until commit. All fields
-- null when no purchase has either.
create function ledger.lock_purchase_of_payment(p_payment_intent_id text, p_charge_id text) returns public.topup_purchases
  language sql volatile set search_path = '' as $$
  select * from public.topup_purchases p
  where (p_payment_intent_id is not null and p.stripe_payment_intent_id = p_payment_intent_id)
     or (p_charge_id is not null and p.stripe_charge_id = p_charge_id)
  order by p.created_at limit 1
  for update
$$;
comment on function ledger.lock_purchase_of_payment(text, text) is
  'The top-up purchase with this payment intent or charge (the oldest when both match), locked FOR UPDATE; all fields null when none.';

-- Example: purchase P of 1,400 credits for 2,500p, paid, 1,000 credits already used. Stripe says
-- charge ch_1 has amount_refunded 1,250 (half): refund_topup_purchase('pi_1', 'ch_1', 1250) claws
-- back 700 credits (grant first, then burn order, the rest as debt), ref 'refund:ch_1:1250', and
-- marks P partially_refunded. A later event with amount_refunded 2,500 claws back 1,400 - 700 = 700
-- more; the 1,250 event arriving after it (out of order) claws back nothing.
create function public.refund_topup_purchase(
  p_payment_intent_id text,
  p_charge_id text,
  p_amount_refunded_minor bigint,
  p_now timestamptz default now()
) returns table (purchase_id uuid, organization_id uuid, status text, clawed_back_credits numeric)
  language plpgsql volatile set search_path = '' as $$
declare
  v_purchase public.topup_purchases;
  v_take numeric(20, 3) := 0;
begin
  v_purchase := ledger.lock_purchase_of_payment(p_payment_intent_id, p_charge_id);
  if v_purchase.id is null then
    return;
  end if;
  v_take := ledger.claw_back_refund('purchase', v_purchase.id, v_purchase.organization_id, v_purchase.credits, v_purchase.price_minor,
    v_purchase.amount_refunded_minor, p_amount_refunded_minor, v_purchase.grant_id,
    format('refund:%s:%s', coalesce(p_charge_id, p_payment_intent_id), p_amount_refunded_minor),
    format('Refund of %s of %s (purchase %s)', p_amount_refunded_minor - v_purchase.amount_refunded_minor, v_purchase.price_minor, v_purchase.id),
    p_now);
  if p_amount_refunded_minor > v_purchase.amount_refunded_minor then
    update public.topup_purchases p
    set amount_refunded_minor = p_amount_refunded_minor,
        stripe_charge_id = coalesce(p_charge_id, p.stripe_charge_id),
        status = case when p.status = 'disputed' then p.status
                      when p_amount_refunded_minor = p.price_minor then 'refunded' else 'partially_refunded' end,
        updated_at = p_now
    where p.id = v_purchase.id
    returning * into v_purchase;
  end if;
  return query select v_purchase.id, v_purchase.organization_id, v_purchase.status, v_take;
end;
$$;
comment on function public.refund_topup_purchase(text, text, bigint, timestamptz) is
  'Claws back the credits of the newly refunded part of a top-up purchase, from Stripe''s cumulative amount_refunded (so duplicate and out-of-order refund events take nothing twice). Returns the purchase and the credits taken (0 when nothing new was refunded); no row when no purchase has that payment intent or charge.';

-- Refunds of auto top-up charges: the same rule as purchases, on the attempt.
alter table public.auto_topup_attempts add column amount_refunded_minor bigint not null default 0
  check (amount_refunded_minor >= 0 and amount_refunded_minor <= price_minor);
comment on column public.auto_topup_attempts.amount_refunded_minor is
  'How much of the charge Stripe has refunded (cumulative, minor units); its credits were clawed back in proportion.';

create function public.refund_auto_topup_attempt(
  p_payment_intent_id text,
  p_amount_refunded_minor bigint,
  p_charge_id text default null,
  p_now timestamptz default now()
) returns table (attempt_id uuid, organization_id uuid, clawed_back_credits numeric)
  language plpgsql volatile set search_path = '' as $$
declare
  v_attempt public.auto_topup_attempts;
  v_take numeric(20, 3) := 0;
begin
  select * into v_attempt from public.auto_topup_attempts a where a.stripe_payment_intent_id = p_payment_intent_id for update;
  if not found then
    return;
  end if;
  v_take := ledger.claw_back_refund('auto top-up', v_attempt.id, v_attempt.organization_id, v_attempt.credits, v_attempt.price_minor,
    v_attempt.amount_refunded_minor, p_amount_refunded_minor, v_attempt.grant_id,
    format('refund:%s:%s', coalesce(p_charge_id, p_payment_intent_id), p_amount_refunded_minor),
    format('Refund of auto top-up %s', v_attempt.id), p_now);
  if p_amount_refunded_minor > v_attempt.amount_refunded_minor then
    update public.auto_topup_attempts a set amount_refunded_minor = p_amount_refunded_minor where a.id = v_attempt.id;
  end if;
  return query select v_attempt.id, v_attempt.organization_id, v_take;
end;
$$;
comment on function public.refund_auto_topup_attempt(text, bigint, text, timestamptz) is
  'Claws back the credits of the newly refunded part of an auto top-up charge, from Stripe''s cumulative amount_refunded (as refund_topup_purchase does for purchases). No row when no attempt has that payment intent.';

-- Example: purchase P of 500 credits for 1,000p is disputed for 1,000p (dp_1):
-- dispute_topup_purchase('pi_1', 'dp_1', 1000, null) claws back 500 (ref 'dispute:dp_1') and marks
-- P disputed. Closed as won: dispute_topup_purchase('pi_1', 'dp_1', 1000, true) grants the 500 back
-- (ref 'dispute_won:dp_1'); a "won" arriving before "created" claws back first, so it nets to zero.
create function public.dispute_topup_purchase(
  p_payment_intent_id text,
  p_dispute_id text,
  p_amount_minor bigint,
  p_won boolean default null,
  p_charge_id text default null,
  p_now timestamptz default now()
) returns table (purchase_id uuid, organization_id uuid, status text, clawed_back_credits numeric, granted_back_credits numeric)
  language plpgsql volatile set search_path = '' as $$
declare
  v_purchase public.topup_purchases;
  v_grant public.credit_grants;
  v_credits numeric(20, 3);
  v_entry public.credit_ledger_entries;
  v_taken numeric(20, 3) := 0;
  v_back numeric(20, 3) := 0;
begin
  v_purchase := ledger.lock_purchase_of_payment(p_payment_intent_id, p_charge_id);
  if v_purchase.id is null then
    return;
  end if;
  if p_amount_minor is null or p_amount_minor <= 0 then
    perform ledger.raise_error('INVALID_INPUT', format('dispute %s has no positive amount', p_dispute_id),
      jsonb_build_object('field', 'amount_minor', 'value', p_amount_minor));
  end if;
  v_credits := public.credits_for_minor(v_purchase.credits, least(p_amount_minor, v_purchase.price_minor), v_purchase.price_minor);
  if v_purchase.grant_id is not null and v_credits > 0 then
    select * into v_entry from public.credit_ledger_entries e
    where e.organization_id = v_purchase.organization_id and e.entry_type = 'clawback' and e.external_ref = 'dispute:' || p_dispute_id;
    if not found then
      v_entry := public.clawback_credits(v_purchase.organization_id, v_credits, 'dispute:' || p_dispute_id,
        format('Dispute %s of purchase %s', p_dispute_id, v_purchase.id), v_purchase.grant_id, p_now);
      v_taken := v_credits;
    end if;
    if p_won then
      select * into v_grant from public.credit_grants g
      where g.organization_id = v_purchase.organization_id and g.external_ref = 'dispute_won:' || p_dispute_id;
      if not found then
        select * into v_grant from public.credit_grants g where g.id = v_purchase.grant_id;
        perform public.grant_credits(v_purchase.organization_id, v_credits, v_grant.source, 'dispute_won:' || p_dispute_id,
          p_expires_at => case when v_grant.expires_at > p_now then v_grant.expires_at end,
          p_description => format('Dispute %s won (purchase %s)', p_dispute_id, v_purchase.id),
          p_metadata => jsonb_build_object('purchase_id', v_purchase.id, 'dispute_id', p_dispute_id),
          p_now => p_now);
        v_back := v_credits;
      end if;
    end if;
  end if;
  -- A "created" arriving after the dispute was closed as won (out of order) leaves the status as it is.
  if p_won is null and exists (
    select 1 from public.credit_grants g
    where g.organization_id = v_purchase.organization_id and g.external_ref = 'dispute_won:' || p_dispute_id
  ) then
    return query select v_purchase.id, v_purchase.organization_id, v_purchase.status, v_taken, v_back;
    return;
  end if;
  update public.topup_purchases p
  set status = case
        when p_won then case when p.amount_refunded_minor = 0 then 'paid'
                             when p.amount_refunded_minor = p.price_minor then 'refunded' else 'partially_refunded' end
        else 'disputed' end,
      stripe_charge_id = coalesce(p_charge_id, p.stripe_charge_id),
      updated_at = p_now
  where p.id = v_purchase.id
  returning * into v_purchase;
  return query select v_purchase.id, v_purchase.organization_id, v_purchase.status, v_taken, v_back;
end;
$$;
comment on function public.dispute_topup_purchase(text, text, bigint, boolean, text, timestamptz) is
  'A dispute of a top-up purchase''s charge: claws back the disputed share once (ref dispute:<id>) and marks the purchase disputed; p_won = true (closed as won) also grants it back once (ref dispute_won:<id>); p_won = false (lost) keeps it taken. Works whatever order created and closed arrive in.';

-- ---------------------------------------------------------------------------------------------
-- Auto top-up
-- ---------------------------------------------------------------------------------------------

-- Example: org O has auto top-up on (threshold 100, pack_500, at most 3 a month, cooldown 60 min)
-- and 40 available. claim_auto_topup_attempt(O) locks O's settings, finds no attempt in flight, none
-- in the last hour, and 1 this month, and inserts attempt A (in_flight, 500 credits, 1,000p,
-- idempotency key 'auto_topup:<A>'). A second claim racing it waits for the settings lock, then
-- finds A in flight and returns null: only one charge is ever made.
create function public.claim_auto_topup_attempt(p_org_id uuid, p_now timestamptz default now())
returns public.auto_topup_attempts
  language plpgsql volatile set search_path = '' as $$
declare
  v_settings public.auto_topup_settings;
  v_package public.topup_packages;
  v_available numeric(20, 3);
  v_month_start timestamptz := date_trunc('month', p_now at time zone 'UTC') at time zone 'UTC';
  v_count int;
  v_minor bigint;
  v_attempt public.auto_topup_attempts;
  v_id uuid := gen_random_uuid();
begin
  select * into v_settings from public.auto_topup_settings where organization_id = p_org_id for update;
  if not found or not v_settings.enabled or v_settings.package_id is null then
    return null;
  end if;
  select b.available_credits into v_available from public.get_credit_balance(p_org_id, p_now) b;
  if v_available is null or v_available >= v_settings.threshold_credits then
    return null;
  end if;
  if exists (select 1 from public.auto_topup_attempts a where a.organization_id = p_org_id and a.status = 'in_flight') then
    return null;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = p_org_id and a.created_at > p_now - make_interval(mins => v_settings.cooldown_minutes)
  ) then
    return null;
  end if;
  select * into v_package from public.topup_packages where id = v_settings.package_id and is_active;
  if not found then
    return null;
  end if;
  -- Monthly caps count the attempts that charged or may still charge.
  select count(*), coalesce(sum(a.price_minor), 0) into v_count, v_minor
  from public.auto_topup_attempts a
  where a.organization_id = p_org_id and a.created_at >= v_month_start and a.status in ('in_flight', 'succeeded', 'requires_action');
  if v_settings.monthly_max_count is not null and v_count >= v_settings.monthly_max_count then
    return null;
  end if;
  if v_settings.monthly_max_minor is not null and v_minor + v_package.price_minor > v_settings.monthly_max_minor then
    return null;
  end if;
  insert into public.auto_topup_attempts
    (id, organization_id, package_id, status, idempotency_key, credits, price_minor, currency, created_at)
  values (v_id, p_org_id, v_package.id, 'in_flight', 'auto_topup:' || v_id, v_package.credits, v_package.price_minor, v_package.currency, p_now)
  on conflict do nothing
  returning * into v_attempt;
  return v_attempt;
end;
$$;
comment on function public.claim_auto_topup_attempt(uuid, timestamptz) is
  'Starts one auto top-up attempt (in_flight, with its idempotency key) when the organization''s auto top-up is on, available is below the threshold, no attempt is in flight, the cooldown has passed and the monthly count and money caps allow the package. Null otherwise. The settings row lock and the one-in-flight index make racing claims start one attempt.';

-- Example: attempt A (in_flight) is declined: resolve_auto_topup_attempt(A, 'failed', 'pi_1',
-- 'card_declined', 'Your card was declined.') marks it failed and counts 1 consecutive failure; a
-- second declined attempt makes 2, which turns auto top-up off with the reason. A succeeded one
-- grants its credits (source auto_top_up, ref = the attempt's idempotency key) and resets the count.
-- A status already reached, or any change of a succeeded or failed attempt, changes nothing.
create function public.resolve_auto_topup_attempt(
  p_attempt_id uuid,
  p_status text,
  p_payment_intent_id text default null,
  p_failure_code text default null,
  p_failure_message text default null,
  p_now timestamptz default now()
) returns table (attempt_id uuid, organization_id uuid, status text, changed boolean, auto_topup_disabled boolean, grant_id uuid)
  language plpgsql volatile set search_path = '' as $$
declare
  v_org uuid;
  v_attempt public.auto_topup_attempts;
  v_settings public.auto_topup_settings;
  v_grant public.credit_grants;
  v_disabled boolean := false;
begin
  if p_status is null or p_status not in ('succeeded', 'failed', 'requires_action') then
    perform ledger.raise_error('INVALID_INPUT', format('an attempt resolves as succeeded, failed or requires_action, not %s', coalesce(p_status, 'null')),
      jsonb_build_object('field', 'status', 'value', p_status));
  end if;
  select a.organization_id into v_org from public.auto_topup_attempts a where a.id = p_attempt_id;
  if not found then
    perform ledger.raise_error('INVALID_INPUT', format('no auto top-up attempt %s', p_attempt_id), jsonb_build_object('attempt_id', p_attempt_id));
  end if;
  -- Lock order: settings, then the attempt (as claim_auto_topup_attempt), then the balance (grant).
  select * into v_settings from public.auto_topup_settings s where s.organization_id = v_org for update;
  select * into v_attempt from public.auto_topup_attempts a where a.id = p_attempt_id for update;
  if v_attempt.status in ('succeeded', 'failed') or v_attempt.status = p_status then
    return query select v_attempt.id, v_attempt.organization_id, v_attempt.status, false, false, v_attempt.grant_id;
    return;
  end if;

  if p_status = 'succeeded' then
    v_grant := public.grant_credits(v_attempt.organization_id, v_attempt.credits, 'auto_top_up', v_attempt.idempotency_key,
      p_description => 'Auto top-up',
      p_metadata => jsonb_build_object('attempt_id', v_attempt.id, 'package_id', v_attempt.package_id),
      p_now => p_now);
    update public.auto_topup_attempts a
    set status = 'succeeded', grant_id = v_grant.id, resolved_at = p_now,
        stripe_payment_intent_id = coalesce(p_payment_intent_id, a.stripe_payment_intent_id),
        failure_code = null, failure_message = null
    where a.id = v_attempt.id returning * into v_attempt;
    update public.auto_topup_settings s set consecutive_failures = 0, updated_at = p_now where s.organization_id = v_org;
  else
    update public.auto_topup_attempts a
    set status = p_status, resolved_at = p_now,
        stripe_payment_intent_id = coalesce(p_payment_intent_id, a.stripe_payment_intent_id),
        failure_code = p_failure_code, failure_message = p_failure_message
    where a.id = v_attempt.id returning * into v_attempt;
    if p_status = 'failed' then
      update public.auto_topup_settings s
      set consecutive_failures = s.consecutive_failures + 1,
          enabled = case when s.consecutive_failures + 1 >= 2 then false else s.enabled end,
          disabled_reason = case when s.consecutive_failures + 1 >= 2 and s.enabled
            then format('Turned off after two payments in a row failed (last: %s)', coalesce(p_failure_message, p_failure_code, 'declined'))
            else s.disabled_reason end,
          updated_at = p_now
      where s.organization_id = v_org
      returning (not s.enabled and v_settings.enabled) into v_disabled;
    end if;
  end if;
  return query select v_attempt.id, v_attempt.organization_id, v_attempt.status, true, coalesce(v_disabled, false), v_attempt.grant_id;
end;
$$;
comment on function public.resolve_auto_topup_attempt(uuid, text, text, text, text, timestamptz) is
  'Records the outcome of an auto top-up attempt once: succeeded grants its credits (ref = its idempotency key) and resets the failure count; failed counts a consecutive failure and turns auto top-up off at two, with the reason; requires_action waits for the customer (a later success still completes it). changed is false when the attempt was already resolved that way or finally.';

-- ---------------------------------------------------------------------------------------------
-- Billing periods and plans
-- ---------------------------------------------------------------------------------------------

create function public.allowance_ref(p_period_start timestamptz) returns text
  language sql immutable set search_path = '' as $$
  select 'plan_allowance:' || to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD');
$$;
comment on function public.allowance_ref(timestamptz) is
  'The external_ref of a period''s allowance grant, plan_allowance:YYYY-MM-DD of the period start (UTC): one grant per organization and period.';

-- Grants what is missing of the plan's allowance for the subscription's current period: the whole
-- allowance as plan_allowance:<start>, or after an upgrade the difference as plan_upgrade:<start>:<plan>.
create function public.grant_period_allowance(p_org_id uuid, p_now timestamptz default now()) returns numeric
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

-- Example: org O on pro, period 2026-10-22 .. 2026-11-22, a downgrade to free pending at
-- 2026-11-22. roll_billing_period(O, '2026-11-22 10:00') moves the period to 2026-11-22 ..
-- 2026-12-22, applies the free plan, and grants free's 10 credits (ref plan_allowance:2026-11-22).
-- Run again (or at once by another job), it finds the period current and the grant made.
create function public.roll_billing_period(p_org_id uuid, p_now timestamptz default now())
returns public.organization_subscriptions
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_free uuid;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id for update;
  if not found then
    return null;
  end if;
  while v_sub.current_period_end <= p_now loop
    if v_sub.pending_plan_id is not null and v_sub.pending_change_at <= v_sub.current_period_end then
      v_sub.plan_id := v_sub.pending_plan_id;
      v_sub.pending_plan_id := null;
      v_sub.pending_change_at := null;
      v_sub.stripe_schedule_id := null;
      if v_sub.cancel_at_period_end then
        v_sub.stripe_subscription_id := null;
        v_sub.cancel_at_period_end := false;
      end if;
    elsif v_sub.cancel_at_period_end then
      select id into v_free from public.plans where code = 'free' and is_active;
      v_sub.plan_id := coalesce(v_free, v_sub.plan_id);
      v_sub.stripe_subscription_id := null;
      v_sub.cancel_at_period_end := false;
    end if;
    v_sub.current_period_start := v_sub.current_period_end;
    v_sub.current_period_end := v_sub.current_period_end + interval '1 month';
  end loop;
  update public.organization_subscriptions s
  set plan_id = v_sub.plan_id, pending_plan_id = v_sub.pending_plan_id, pending_change_at = v_sub.pending_change_at,
      stripe_schedule_id = v_sub.stripe_schedule_id, stripe_subscription_id = v_sub.stripe_subscription_id,
      cancel_at_period_end = v_sub.cancel_at_period_end,
      current_period_start = v_sub.current_period_start, current_period_end = v_sub.current_period_end,
      updated_at = p_now
  where s.organization_id = p_org_id and (s.current_period_end is distinct from v_sub.current_period_end)
  returning * into v_sub;
  if not found then
    select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  end if;
  perform public.grant_period_allowance(p_org_id, p_now);
  return v_sub;
end;
$$;
comment on function public.roll_billing_period(uuid, timestamptz) is
  'Starts the organization''s next billing period(s) when the current one has ended (one month each), applying a pending plan change or a cancellation (back to free) due at that period end, then grants the current period''s allowance once. Idempotent.';

create function public.roll_billing_periods(p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_org record;
  v_count integer := 0;
begin
  for v_org in
    select s.organization_id from public.organization_subscriptions s
    join public.plans p on p.id = s.plan_id
    where s.current_period_end <= p_now
       or (s.status = 'active' and p.monthly_allowance_credits > 0 and not exists (
         select 1 from public.credit_grants g
         where g.organization_id = s.organization_id and g.external_ref = public.allowance_ref(s.current_period_start)))
    order by s.organization_id
  loop
    perform public.roll_billing_period(v_org.organization_id, p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function public.roll_billing_periods(timestamptz) is
  'The job: rolls every subscription whose period has ended and grants every active organization (free ones too) its allowance for the current period once. Returns how many organizations it touched. Safe to run twice at once.';

-- Example: Acme on pro (500) upgrades to team (2,000) mid-period, and the prorated invoice is paid:
-- apply_plan_change(acme, team) sets the plan, drops a pending downgrade, and grants 1,500
-- (ref plan_upgrade:<period start>:<team id>). Applied again (the invoice.paid event after the
-- action), the plan is already team and nothing is missing, so nothing changes.
create function public.apply_plan_change(
  p_org_id uuid,
  p_plan_id uuid,
  p_stripe_subscription_id text default null,
  p_period_start timestamptz default null,
  p_period_end timestamptz default null,
  p_now timestamptz default now()
) returns public.organization_subscriptions
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
begin
  if not exists (select 1 from public.plans where id = p_plan_id) then
    perform ledger.raise_error('INVALID_INPUT', format('no plan %s', p_plan_id), jsonb_build_object('field', 'plan_id', 'value', p_plan_id));
  end if;
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id for update;
  if not found then
    perform ledger.raise_error('ORGANIZATION_NOT_FOUND', format('org %s has no subscription', p_org_id), jsonb_build_object('organization_id', p_org_id));
  end if;
  update public.organization_subscriptions s
  set plan_id = p_plan_id,
      status = 'active',
      pending_plan_id = null, pending_change_at = null, stripe_schedule_id = null, cancel_at_period_end = false,
      stripe_subscription_id = coalesce(p_stripe_subscription_id, s.stripe_subscription_id),
      current_period_start = coalesce(p_period_start, s.current_period_start),
      current_period_end = coalesce(p_period_end, s.current_period_end),
      updated_at = p_now
  where s.organization_id = p_org_id
    and (s.plan_id <> p_plan_id or s.pending_plan_id is not null or s.status <> 'active'
      or s.stripe_subscription_id is distinct from coalesce(p_stripe_subscription_id, s.stripe_subscription_id)
      or (p_period_start is not null and s.current_period_start <> p_period_start))
  returning * into v_sub;
  perform public.grant_period_allowance(p_org_id, p_now);
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  return v_sub;
end;
$$;
comment on function public.apply_plan_change(uuid, uuid, text, timestamptz, timestamptz, timestamptz) is
  'Moves an organization to a plan now (an upgrade that was paid, or a new subscription from checkout with its period), drops any pending change, and grants what is missing of the new plan''s allowance for the period. Idempotent.';

-- ---------------------------------------------------------------------------------------------
-- Usage notifications
-- ---------------------------------------------------------------------------------------------

-- Example: Acme used 410 of its 500 allowance this period (82%). notify_usage_thresholds inserts
-- 'usage:2026-11-01:50' (already read: a passed step, not sent) and 'usage:2026-11-01:80', and
-- returns the 80% one to send. Run again, the dedupe keys exist and it returns nothing.
create function public.notify_usage_thresholds(p_now timestamptz default now()) returns setof public.notifications
  language plpgsql volatile set search_path = '' as $$
begin
  return query
  with periods as (
    select s.organization_id, s.current_period_start,
      to_char(s.current_period_start at time zone 'UTC', 'YYYY-MM-DD') as period_key
    from public.organization_subscriptions s
    where s.current_period_start <= p_now and p_now < s.current_period_end
  ), allowance_use as (
    select pr.organization_id, pr.period_key, sum(g.amount_credits) as granted, sum(g.amount_credits - g.remaining_credits) as used
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
comment on function public.notify_usage_thresholds(timestamptz) is
  'The job: notifies each organization once per period when 50%, 80% and 100% of its allowance is used (steps passed together are stored, but only the highest is unread), and once per period and threshold when available falls below its auto top-up threshold. Returns the notifications it inserted.';
