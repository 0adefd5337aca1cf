-- Why: a refund of a payment that granted nothing (a purchase refunded before it was fulfilled, or
-- a failed one) reported the credits of the refunded part as clawed back, though none were: the
-- Stripe webhook then told the org's owners "N credits were taken back". The auto top-up refund had
-- its own fix for this; now the shared rule (ledger.claw_back_refund) returns 0 when the payment has
-- no grant, for both, and the auto top-up function loses its special case.
--
-- Example: purchase P (500 credits for 1,000p) has a payment intent but no grant. Stripe reports
-- charge.refunded with amount_refunded 1,000: refund_topup_purchase returns clawed_back_credits 0
-- (it returned 500), records the refund on P, and no ledger entry or notification is written.

create or replace function ledger.claw_back_refund(
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
  if p_refunded_minor <= p_refunded_before_minor then
    return 0;
  end if;
  v_take := public.credits_for_minor(p_credits, p_refunded_minor, p_price_minor)
    - public.credits_for_minor(p_credits, p_refunded_before_minor, p_price_minor);
  if p_grant_id is null then
    return 0; -- the payment granted nothing, so there is nothing to take back
  end if;
  if v_take > 0 then
    perform public.clawback_credits(p_org_id, v_take, p_reference, p_description, p_grant_id, p_now);
  end if;
  return v_take;
end;
$$;
comment on function ledger.claw_back_refund(text, uuid, uuid, numeric, bigint, bigint, bigint, uuid, text, text, timestamptz) is
  'The credits clawed back for the newly refunded part of a payment (Stripe''s cumulative amount_refunded): taken from its grant, 0 when it has none; INVALID_INPUT for an amount outside 0..price.';

create or replace function public.refund_auto_topup_attempt(
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
