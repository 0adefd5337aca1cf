-- Why: undo 1795322401200_auto_topup_early_charge_events: refund_auto_topup_attempt as
-- 1795322400100_payments made it and dispute_auto_topup_attempt as
-- 1795322400600_disputes_and_early_charge_events made it, with their comments.
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
comment on function public.refund_auto_topup_attempt(text, bigint, text, timestamptz) is
  'Claws back the credits of the newly refunded part of an auto top-up charge, from Stripe''s cumulative amount_refunded (as refund_topup_purchase does for purchases). No row when no attempt has that payment intent.';

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
  if not found then
    return;
  end if;
  select d.clawed_back_credits, d.granted_back_credits into v_taken, v_back
  from ledger.claw_back_dispute('auto top-up', v_attempt.id, v_attempt.organization_id, v_attempt.credits, v_attempt.price_minor,
    v_attempt.grant_id, p_dispute_id, p_amount_minor, p_won, jsonb_build_object('auto_topup_attempt_id', v_attempt.id), p_now) d;
  return query select v_attempt.id, v_attempt.organization_id, v_taken, v_back;
end;
$$;
comment on function public.dispute_auto_topup_attempt(text, text, bigint, boolean, timestamptz) is
  'A dispute of an auto top-up''s charge, by its payment intent: the same rule as dispute_topup_purchase (claw back the disputed share once; when won, grant it back once). No row when no attempt has that payment intent.';
