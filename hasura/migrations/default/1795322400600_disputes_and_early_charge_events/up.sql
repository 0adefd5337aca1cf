-- Why: two ways a chargeback or refund took no credits back.
--
-- 1. A dispute of an auto top-up's charge matched nothing: dispute_topup_purchase looks only at
--    top-up purchases, and refunds were the only charge events that also looked at auto top-up
--    attempts. The rule of a dispute (claw back the disputed share once, grant it back once if the
--    dispute is won, in any arrival order) is now ledger.claw_back_dispute, used by
--    dispute_topup_purchase (unchanged in what it does) and by the new dispute_auto_topup_attempt.
-- 2. A refund or dispute that Stripe delivered before checkout.session.completed found no purchase
--    (a purchase learns its payment intent when it is fulfilled), was recorded as handled and so
--    never applied, and the purchase was then granted in full. Charge events now record their
--    payment intent in stripe_events, and the webhook applies the ones recorded for a payment
--    intent again when that payment's purchase is fulfilled (each is idempotent: cumulative refund
--    amounts, one clawback per dispute).
--
-- Example: auto top-up attempt A (500 credits for 1,000p, payment intent pi_A) succeeded.
-- dispute_auto_topup_attempt('pi_A', 'dp_1', 1000) claws back 500 (ref 'dispute:dp_1'); closed as
-- won, dispute_auto_topup_attempt('pi_A', 'dp_1', 1000, true) grants 500 back (ref
-- 'dispute_won:dp_1'). Before, both answered no row and the 500 stayed.

alter table public.stripe_events add column payment_intent_id text;
comment on column public.stripe_events.payment_intent_id is
  'For charge events (refunds, disputes): the payment intent they are about, so that the ones that came before their payment was fulfilled can be applied when it is.';
update public.stripe_events
set payment_intent_id = payload -> 'data' -> 'object' ->> 'payment_intent'
where type in ('charge.refunded', 'charge.dispute.created', 'charge.dispute.closed')
  and jsonb_typeof(payload -> 'data' -> 'object' -> 'payment_intent') = 'string';
create index stripe_events_payment_intent_idx on public.stripe_events (payment_intent_id) where payment_intent_id is not null;

-- The rule of a dispute of one payment (a purchase or an auto top-up charge) of p_credits for
-- p_price_minor that made grant p_grant_id: the disputed share (credits_for_minor of the disputed
-- amount) is clawed back once (ref dispute:<id>, from that grant first), and when p_won it is
-- granted back once (ref dispute_won:<id>, the grant's source and expiry). Nothing when the payment
-- granted nothing. The caller holds the payment's row. INVALID_INPUT for an amount <= 0.
create function ledger.claw_back_dispute(
  p_what text,
  p_id uuid,
  p_org_id uuid,
  p_credits numeric,
  p_price_minor bigint,
  p_grant_id uuid,
  p_dispute_id text,
  p_amount_minor bigint,
  p_won boolean,
  p_metadata jsonb,
  p_now timestamptz,
  out clawed_back_credits numeric,
  out granted_back_credits numeric
)
  language plpgsql volatile set search_path = '' as $$
declare
  v_grant public.credit_grants;
  v_credits numeric(20, 3);
begin
  clawed_back_credits := 0;
  granted_back_credits := 0;
  if p_amount_minor is null or p_amount_minor <= 0 then
    perform ledger.raise_error('INVALID_INPUT', format('dispute %s has no positive amount', p_dispute_id),
      jsonb_build_object('field', 'amount_minor', 'value', p_amount_minor));
  end if;
  v_credits := public.credits_for_minor(p_credits, least(p_amount_minor, p_price_minor), p_price_minor);
  if p_grant_id is null or v_credits <= 0 then
    return;
  end if;
  if not exists (
    select 1 from public.credit_ledger_entries e
    where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.external_ref = 'dispute:' || p_dispute_id
  ) then
    perform public.clawback_credits(p_org_id, v_credits, 'dispute:' || p_dispute_id,
      format('Dispute %s of %s %s', p_dispute_id, p_what, p_id), p_grant_id, p_now);
    clawed_back_credits := v_credits;
  end if;
  if p_won and not exists (
    select 1 from public.credit_grants g where g.organization_id = p_org_id and g.external_ref = 'dispute_won:' || p_dispute_id
  ) then
    select * into v_grant from public.credit_grants g where g.id = p_grant_id;
    perform public.grant_credits(p_org_id, v_credits, v_grant.source, 'dispute_won:' || p_dispute_id,
      p_expires_at => case when v_grant.expires_at > p_now then v_grant.expires_at end,
      p_description => format('Dispute %s won (%s %s)', p_dispute_id, p_what, p_id),
      p_metadata => p_metadata || jsonb_build_object('dispute_id', p_dispute_id),
      p_now => p_now);
    granted_back_credits := v_credits;
  end if;
end;
$$;
comment on function ledger.claw_back_dispute(text, uuid, uuid, numeric, bigint, uuid, text, bigint, boolean, jsonb, timestamptz) is
  'A dispute of one payment: claws back the disputed share once (ref dispute:<id>) and, when won, grants it back once (ref dispute_won:<id>); nothing when the payment granted nothing; INVALID_INPUT for an amount <= 0.';

create or replace function public.dispute_topup_purchase(
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
  v_taken numeric(20, 3);
  v_back numeric(20, 3);
begin
  v_purchase := ledger.lock_purchase_of_payment(p_payment_intent_id, p_charge_id);
  if v_purchase.id is null then
    return;
  end if;
  select d.clawed_back_credits, d.granted_back_credits into v_taken, v_back
  from ledger.claw_back_dispute('purchase', v_purchase.id, v_purchase.organization_id, v_purchase.credits, v_purchase.price_minor,
    v_purchase.grant_id, p_dispute_id, p_amount_minor, p_won, jsonb_build_object('purchase_id', v_purchase.id), p_now) d;
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

create function public.dispute_auto_topup_attempt(
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
