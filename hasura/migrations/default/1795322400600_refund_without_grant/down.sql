-- Puts back the previous bodies (migration 1795322400100_payments).
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
  if v_take > 0 and p_grant_id is not null then
    perform public.clawback_credits(p_org_id, v_take, p_reference, p_description, p_grant_id, p_now);
  end if;
  return v_take;
end;
$$;
comment on function ledger.claw_back_refund(text, uuid, uuid, numeric, bigint, bigint, bigint, uuid, text, text, timestamptz) is
  'The credits owed back for the newly refunded part of a payment (Stripe''s cumulative amount_refunded), clawed back from its grant when it has one; INVALID_INPUT for an amount outside 0..price.';

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
  if v_attempt.grant_id is null then
    v_take := 0; -- nothing was granted, so nothing was taken back
  end if;
  if p_amount_refunded_minor > v_attempt.amount_refunded_minor then
    update public.auto_topup_attempts a set amount_refunded_minor = p_amount_refunded_minor where a.id = v_attempt.id;
  end if;
  return query select v_attempt.id, v_attempt.organization_id, v_take;
end;
$$;
