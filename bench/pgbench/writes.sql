-- A control for pair-hot.sql and pair-spread.sql, and for `BENCH_CALLS=writes pnpm bench:ledger`:
-- only the writes a reserve -> settle pair cannot do without, on the ledger's tables as they are
-- (their indexes, CHECKs, foreign keys and triggers), with no reads or checks around them.
-- writes_reserve inserts the reservation, then adds to the holds' row under the org's holds;
-- writes_settle marks the reservation settled, then under the org's ledger lock draws from the
-- grant and writes one consume entry and the balance row. Each benchmark organization has one
-- grant, so "the grant" is the org's only one. Running it changes the benchmark orgs' rows.
create function writes_reserve(p_org_id uuid, p_amount numeric, p_key text) returns uuid
  language plpgsql volatile as $$
declare
  v_id uuid;
begin
  insert into public.credit_reservations (organization_id, capability_code, quality_level_code, model_id,
    idempotency_key, amount_credits, expires_at, created_at, updated_at)
  values (p_org_id, 'question_suggestions', 'fast', 'openai/gpt-4.1-nano', p_key, p_amount,
    now() + interval '10 minutes', now(), now())
  returning id into v_id;
  perform ledger.lock_holds(p_org_id);
  update public.credit_holds set held_credits = held_credits + p_amount, updated_at = now()
  where organization_id = p_org_id;
  return v_id;
end;
$$;

create function writes_settle(p_reservation_id uuid, p_amount numeric, p_org_id uuid) returns text
  language plpgsql volatile as $$
declare
  v_held numeric(20, 3);
  v_grant uuid;
begin
  update public.credit_reservations
  set status = 'settled', settled_amount_credits = p_amount, resolved_at = now(), updated_at = now()
  where id = p_reservation_id
  returning amount_credits into v_held;
  perform ledger.lock_ledger(p_org_id);
  update public.credit_grants set remaining_credits = remaining_credits - p_amount, updated_at = now()
  where organization_id = p_org_id
  returning id into v_grant;
  insert into public.credit_ledger_entries
    (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, reservation_id, description, created_at)
  values (p_org_id, 'consume', -p_amount, 0, v_grant, p_reservation_id, 'question_suggestions', now());
  update public.credit_balances
  set bonus_remaining_credits = bonus_remaining_credits - p_amount, released_credits = released_credits + v_held,
      updated_at = now()
  where organization_id = p_org_id;
  return 'settled';
end;
$$;
