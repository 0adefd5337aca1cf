-- 1795322400600_disputes_and_early_charge_events's claw_back_dispute.
create or replace function ledger.claw_back_dispute(
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
