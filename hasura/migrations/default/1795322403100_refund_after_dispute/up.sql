-- Why: a refund and a dispute of one payment counted each other only in one order. Migration
-- 1795322402700 made a dispute take what the refunded and disputed amounts together buy beyond the
-- refunds; but a refund delivered after the dispute (Stripe does not promise the order, and a failed
-- delivery comes again later) still took its whole share. A 500-credit pack of 1,000p refunded 500p
-- and disputed for 1,000p lost 500 credits in one order and 750 in the other. Now a refund takes no
-- more, with what the payment's refunds and disputes not won took already, than the payment bought;
-- and a dispute won gives back what it took less what the refunds should have taken and did not,
-- because it had taken it first. Both orders, won or lost, now end the same.
--
-- Example: that pack, dispute (1,000p) delivered first: 500 taken; then the refund (500p): 0 more
-- (before: 250); the dispute won: 250 back (before: 500), so the refunded half stays taken.

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
  v_taken numeric(20, 3);
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
  -- Never more, with what this payment's refunds and its disputes not won have taken already, than
  -- the payment bought: a dispute delivered before this refund may have taken the refunded share.
  select coalesce(sum(-e.amount_credits), 0) into v_taken
  from public.credit_ledger_entries e
  where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.grant_id = p_grant_id
    and (e.external_ref like 'refund:%'
      or (e.external_ref like 'dispute:%' and not exists (
        select 1 from public.credit_grants g
        where g.organization_id = p_org_id and g.external_ref = 'dispute_won:' || substr(e.external_ref, 9))));
  v_take := least(v_take, greatest(0, p_credits - v_taken));
  if v_take > 0 then
    perform public.clawback_credits(p_org_id, v_take, p_reference, p_description, p_grant_id, p_now);
  end if;
  return v_take;
end;
$$;
comment on function ledger.claw_back_refund(text, uuid, uuid, numeric, bigint, bigint, bigint, uuid, text, text, timestamptz) is
  'The credits clawed back for the newly refunded part of a payment (Stripe''s cumulative amount_refunded), never more, with what the payment''s refunds and its disputes not won took already, than the payment bought: taken from its grant, 0 when it has none; INVALID_INPUT for an amount outside 0..price.';

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
  v_refunded bigint;
  v_refund_took numeric(20, 3);
begin
  clawed_back_credits := 0;
  granted_back_credits := 0;
  if p_amount_minor is null or p_amount_minor <= 0 then
    perform ledger.raise_error('INVALID_INPUT', format('dispute %s has no positive amount', p_dispute_id),
      jsonb_build_object('field', 'amount_minor', 'value', p_amount_minor));
  end if;
  if p_grant_id is null then
    return;
  end if;
  if not exists (
    select 1 from public.credit_ledger_entries e
    where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.external_ref = 'dispute:' || p_dispute_id
  ) then
    -- What refunds of this payment have returned already (in minor units, within the price).
    v_refunded := case p_what
      when 'purchase' then (select p.amount_refunded_minor from public.topup_purchases p where p.id = p_id)
      when 'auto top-up' then (select a.amount_refunded_minor from public.auto_topup_attempts a where a.id = p_id) end;
    v_refunded := least(greatest(coalesce(v_refunded, 0), 0), p_price_minor);
    v_credits := public.credits_for_minor(p_credits, v_refunded + least(p_amount_minor, p_price_minor - v_refunded), p_price_minor)
      - public.credits_for_minor(p_credits, v_refunded, p_price_minor);
    if v_credits > 0 then
      perform public.clawback_credits(p_org_id, v_credits, 'dispute:' || p_dispute_id,
        format('Dispute %s of %s %s', p_dispute_id, p_what, p_id), p_grant_id, p_now);
      clawed_back_credits := v_credits;
    end if;
  end if;
  if p_won and not exists (
    select 1 from public.credit_grants g where g.organization_id = p_org_id and g.external_ref = 'dispute_won:' || p_dispute_id
  ) then
    -- Exactly what the dispute's clawback took (written above, or by the event that opened it).
    select -e.amount_credits into v_credits
    from public.credit_ledger_entries e
    where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.external_ref = 'dispute:' || p_dispute_id;
    if not found or v_credits <= 0 then
      return;
    end if;
    -- Less what this payment's refunds should have taken and did not, because this dispute had
    -- taken it first (a refund delivered after the dispute takes only what the payment has left).
    v_refunded := case p_what
      when 'purchase' then (select p.amount_refunded_minor from public.topup_purchases p where p.id = p_id)
      when 'auto top-up' then (select a.amount_refunded_minor from public.auto_topup_attempts a where a.id = p_id) end;
    v_refunded := least(greatest(coalesce(v_refunded, 0), 0), p_price_minor);
    select coalesce(sum(-e.amount_credits), 0) into v_refund_took
    from public.credit_ledger_entries e
    where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.grant_id = p_grant_id and e.external_ref like 'refund:%';
    v_credits := v_credits - greatest(0, public.credits_for_minor(p_credits, v_refunded, p_price_minor) - v_refund_took);
    if v_credits <= 0 then
      return;
    end if;
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
  'A dispute of one payment (p_what purchase or auto top-up, p_id its row): claws back once (ref dispute:<id>) what the refunded and disputed amounts together, within the price, buy beyond what the refunds alone bought, and, when won, grants back once exactly what that clawback took (ref dispute_won:<id>); nothing when the payment granted nothing; INVALID_INPUT for an amount <= 0.';
