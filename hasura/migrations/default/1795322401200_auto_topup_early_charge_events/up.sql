-- Why: Stripe does not promise the order of its events. A refund or dispute of an auto top-up's
-- charge that arrived before the attempt's success was recorded (payment_intent.succeeded delivered
-- late, or the attempt still in flight or waiting for the bank) found no grant: the refund recorded
-- the refunded amount while clawing back nothing, the dispute clawed back nothing, and the success
-- then granted the pack in full, for good. Now both answer no row while the attempt has no grant,
-- as the purchase functions do before a purchase is fulfilled; the charge event stays in
-- stripe_events with its payment intent, and the api applies it, once, in the transaction that
-- records the attempt's success (api/src/payments/charge-events.ts).
--
-- Example: attempt A (500 credits for 1,000p, payment intent pi_A) in flight. charge.refunded for
-- pi_A (1,000p) arrives: no row, A's amount_refunded_minor stays 0. payment_intent.succeeded then
-- grants 500 and applies the refund: 500 clawed back (ref 'refund:ch_A:1000'), balance as before.

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
  -- Not granted yet (its payment's success not recorded yet): no row. The event stays recorded
  -- with its payment intent, and the attempt's success applies it.
  if not found or v_attempt.grant_id is null then
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
  'Claws back the credits of the newly refunded part of an auto top-up charge, from Stripe''s cumulative amount_refunded (as refund_topup_purchase does for purchases). No row when no attempt has that payment intent, or its credits are not granted yet (the api applies the refund when the attempt succeeds).';

create or replace function public.dispute_auto_topup_attempt(
  p_payment_intent_id text,
  p_dispute_id text,
  p_amount_minor bigint,
  p_won boolean default null,
  p_now timestamptz default now()
) returns table (attempt_id uuid, organization_id uuid, clawed_back_credits numeric, granted_back_credits numeric)
  language plpgsql volatile set search_path = '' as $$
declare
  v_attempt public.auto_topup_attempts;
  v_taken numeric(20, 3);
  v_back numeric(20, 3);
begin
  select * into v_attempt from public.auto_topup_attempts a where a.stripe_payment_intent_id = p_payment_intent_id for update;
  -- Not granted yet (its payment's success not recorded yet): no row. The event stays recorded
  -- with its payment intent, and the attempt's success applies it.
  if not found or v_attempt.grant_id is null then
    return;
  end if;
  select d.clawed_back_credits, d.granted_back_credits into v_taken, v_back
  from ledger.claw_back_dispute('auto top-up', v_attempt.id, v_attempt.organization_id, v_attempt.credits, v_attempt.price_minor,
    v_attempt.grant_id, p_dispute_id, p_amount_minor, p_won, jsonb_build_object('auto_topup_attempt_id', v_attempt.id), p_now) d;
  return query select v_attempt.id, v_attempt.organization_id, v_taken, v_back;
end;
$$;
comment on function public.dispute_auto_topup_attempt(text, text, bigint, boolean, timestamptz) is
  'A dispute of an auto top-up''s charge, by its payment intent: the same rule as dispute_topup_purchase (claw back the disputed share once; when won, grant it back once). No row when no attempt has that payment intent, or its credits are not granted yet (the api applies the dispute when the attempt succeeds).';
