-- Why: undo 1795322400600_disputes_and_early_charge_events: dispute_topup_purchase as
-- 1795322400100_payments made it, no dispute_auto_topup_attempt or ledger.claw_back_dispute, and
-- stripe_events without payment_intent_id.
drop function public.dispute_auto_topup_attempt(text, text, bigint, boolean, timestamptz);
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
drop function ledger.claw_back_dispute(text, uuid, uuid, numeric, bigint, uuid, text, bigint, boolean, jsonb, timestamptz);
drop index public.stripe_events_payment_intent_idx;
alter table public.stripe_events drop column payment_intent_id;
