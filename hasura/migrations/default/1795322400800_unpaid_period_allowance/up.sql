-- Why: the allowance of a period is granted when the period begins, before Stripe collects its
-- invoice. When Stripe then gave up collecting it and deleted the subscription, the org returned to
-- free but kept what remained of the unpaid period's allowance until the period's end: a month of
-- the paid plan for nothing. The webhook now takes that remainder back (this function) before it
-- moves the org to free, when the subscription ended for a failed payment. What was already used
-- stays used: no debt is made.
--
-- Example: org O on pro, period 2026-11-12 .. 2026-12-12, allowance 500 granted on 12 November
-- (ref plan_allowance:2026-11-12), 120 used. The renewal payment fails and Stripe deletes the
-- subscription on 30 November: revoke_period_allowance(O, ...) claws back the 380 left from that
-- grant (ref unpaid_period:<grant id>) and returns 380. Again: the clawback exists, 0.
create function public.revoke_period_allowance(p_org_id uuid, p_reason text, p_now timestamptz default now()) returns numeric
  language plpgsql volatile set search_path = '' as $$
declare
  v_sub public.organization_subscriptions;
  v_ref text;
  v_grant public.credit_grants;
  v_taken numeric(20, 3) := 0;
begin
  select * into v_sub from public.organization_subscriptions s where s.organization_id = p_org_id;
  if not found then
    return 0;
  end if;
  v_ref := public.allowance_ref(v_sub.current_period_start);
  -- The ledger lock first, so that what remains is read after every settle before us.
  perform ledger.lock_organization(p_org_id);
  for v_grant in
    select * from public.credit_grants g
    where g.organization_id = p_org_id and g.source = 'plan_allowance' and g.expired_at is null and g.remaining_credits > 0
      and g.expires_at > p_now
      and (g.external_ref = v_ref or g.external_ref like 'plan_upgrade:' || substr(v_ref, 16) || ':%')
      and not exists (
        select 1 from public.credit_ledger_entries e
        where e.organization_id = p_org_id and e.entry_type = 'clawback' and e.external_ref = 'unpaid_period:' || g.id)
    order by g.created_at, g.id
  loop
    perform public.clawback_credits(p_org_id, v_grant.remaining_credits, 'unpaid_period:' || v_grant.id, p_reason, v_grant.id, p_now);
    v_taken := v_taken + v_grant.remaining_credits;
  end loop;
  return v_taken;
end;
$$;
comment on function public.revoke_period_allowance(uuid, text, timestamptz) is
  'Takes back what remains of the current period''s allowance grants (the plan''s and an upgrade''s difference), one clawback per grant (ref unpaid_period:<grant id>), when the period was never paid; what was used stays used. Returns the credits taken; 0 the second time. The caller holds the subscription row.';
