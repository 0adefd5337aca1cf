-- Why: a plan allowance lasts one period. grant_credits defaulted its expiry to the end of the
-- organization's current period, but with no subscription (no period) the allowance silently never
-- expired. Now such a grant needs an explicit p_expires_at (INVALID_INPUT otherwise). Nothing else
-- in grant_credits changes.

-- Example: org with debt 3 (an earlier chargeback). grant_credits(org, 10, 'purchase', 'cs_123')
-- inserts a grant of amount 10 with remaining 7 (3 repay the debt), expiring 365 days from now,
-- writes one `grant` entry of +10 (balance -3 -> 7) and sets debt to 0. Calling it again with
-- 'cs_123' returns the same grant and changes nothing.
create or replace function public.grant_credits(
  p_org_id uuid,
  p_amount numeric,
  p_source text,
  p_external_ref text,
  p_expires_at timestamptz default null,
  p_priority int default null,
  p_effective_at timestamptz default null,
  p_description text default null,
  p_metadata jsonb default '{}'::jsonb,
  p_now timestamptz default now()
) returns public.credit_grants
  language plpgsql volatile set search_path = '' as $$
declare
  v_grant public.credit_grants;
  v_balance public.credit_balances;
  v_effective timestamptz := coalesce(p_effective_at, p_now);
  v_expires timestamptz := p_expires_at;
  v_repay numeric(20, 3);
  v_remaining numeric(20, 3);
  v_bucket text;
begin
  perform ledger.check_amount(p_amount, 'amount');
  if p_source is null or p_source not in ('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration') then
    perform ledger.raise_error('INVALID_INPUT', format('unknown grant source %s for org %s', coalesce(p_source, 'null'), p_org_id),
      jsonb_build_object('field', 'source', 'value', p_source));
  end if;
  if p_external_ref is null or length(btrim(p_external_ref)) = 0 then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s needs an external reference', p_org_id),
      jsonb_build_object('field', 'external_ref'));
  end if;

  -- Idempotency: a committed grant with this reference is final.
  select * into v_grant from public.credit_grants where organization_id = p_org_id and external_ref = p_external_ref;
  if found then
    if v_grant.amount_credits <> p_amount or v_grant.source <> p_source then
      perform ledger.raise_error('IDEMPOTENCY_CONFLICT',
        format('grant %s of org %s already has external reference %s with other arguments', v_grant.id, p_org_id, p_external_ref),
        jsonb_build_object('grant_id', v_grant.id, 'amount', v_grant.amount_credits::text, 'source', v_grant.source));
    end if;
    return v_grant;
  end if;

  if v_effective > p_now then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s cannot take effect in the future (%s)', p_org_id, v_effective),
      jsonb_build_object('field', 'effective_at', 'value', v_effective));
  end if;
  if v_expires is null and p_source in ('purchase', 'auto_top_up') then
    v_expires := v_effective + interval '365 days';
  elsif v_expires is null and p_source = 'plan_allowance' then
    select s.current_period_end into v_expires
    from public.organization_subscriptions s where s.organization_id = p_org_id;
    if v_expires is null then
      perform ledger.raise_error('INVALID_INPUT',
        format('a plan allowance for org %s needs an expiry: the org has no subscription period to end it', p_org_id),
        jsonb_build_object('field', 'expires_at'));
    end if;
  end if;
  if v_expires is not null and v_expires <= greatest(p_now, v_effective) then
    perform ledger.raise_error('INVALID_INPUT', format('a grant for org %s would already be expired (%s)', p_org_id, v_expires),
      jsonb_build_object('field', 'expires_at', 'value', v_expires));
  end if;

  -- The organization's lock.
  select * into v_balance from public.credit_balances where organization_id = p_org_id for update;
  if not found then
    perform ledger.raise_error('ORGANIZATION_NOT_FOUND', format('org %s does not exist', p_org_id), jsonb_build_object('organization_id', p_org_id));
  end if;
  -- Another transaction may have granted with this reference while we waited for the lock.
  select * into v_grant from public.credit_grants where organization_id = p_org_id and external_ref = p_external_ref;
  if found then
    if v_grant.amount_credits <> p_amount or v_grant.source <> p_source then
      perform ledger.raise_error('IDEMPOTENCY_CONFLICT',
        format('grant %s of org %s already has external reference %s with other arguments', v_grant.id, p_org_id, p_external_ref),
        jsonb_build_object('grant_id', v_grant.id, 'amount', v_grant.amount_credits::text, 'source', v_grant.source));
    end if;
    return v_grant;
  end if;

  perform ledger.expire_due_grants(p_org_id, p_now);
  select * into v_balance from public.credit_balances where organization_id = p_org_id;

  -- A grant repays debt first.
  v_repay := least(v_balance.debt_credits, p_amount);
  v_remaining := p_amount - v_repay;
  insert into public.credit_grants
    (organization_id, source, amount_credits, remaining_credits, priority, effective_at, expires_at, external_ref,
     description, metadata, created_at, updated_at)
  values
    (p_org_id, p_source, p_amount, v_remaining, coalesce(p_priority, 100), v_effective, v_expires, p_external_ref,
     p_description, coalesce(p_metadata, '{}'::jsonb), p_now, p_now)
  returning * into v_grant;

  v_bucket := ledger.bucket_of(p_source);
  update public.credit_balances
  set allowance_remaining_credits = allowance_remaining_credits + case when v_bucket = 'allowance' then v_remaining else 0 end,
      purchased_remaining_credits = purchased_remaining_credits + case when v_bucket = 'purchased' then v_remaining else 0 end,
      bonus_remaining_credits = bonus_remaining_credits + case when v_bucket = 'bonus' then v_remaining else 0 end,
      debt_credits = debt_credits - v_repay,
      updated_at = p_now
  where organization_id = p_org_id
  returning * into v_balance;

  insert into public.credit_ledger_entries
    (organization_id, entry_type, amount_credits, balance_after_credits, grant_id, external_ref, description, created_at)
  values (
    p_org_id, case when p_source = 'adjustment' then 'adjustment' else 'grant' end, p_amount,
    v_balance.allowance_remaining_credits + v_balance.purchased_remaining_credits + v_balance.bonus_remaining_credits - v_balance.debt_credits,
    v_grant.id, p_external_ref,
    coalesce(p_description, p_source) || case when v_repay > 0 then format(' (%s repaid debt)', v_repay) else '' end,
    p_now);
  return v_grant;
end;
$$;
comment on function public.grant_credits(uuid, numeric, text, text, timestamptz, int, timestamptz, text, jsonb, timestamptz) is
  'Adds a bucket of credits to an organization. The same (org, external_ref) again returns the existing grant and changes nothing (IDEMPOTENCY_CONFLICT if amount or source differ). A grant first repays debt. Default expiry: purchases and auto top-ups 365 days after effective_at, a plan allowance at the end of the current period, others never. Default priority 100 (lower burns first).';
