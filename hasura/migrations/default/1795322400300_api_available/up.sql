-- Why: reserveCredits, settleCredits and releaseCredits answer with the organization's available
-- credits after the call. The api reads them in the same statement as the ledger call (one round
-- trip per action instead of two). A plain subquery on credit_balances in that statement would read
-- the snapshot the statement took before the ledger function ran, and miss its own changes; a
-- VOLATILE function evaluated after the ledger function (in the select list over its row) takes a
-- new snapshot and sees them.
--
-- Example: balance 10, reserve 0.114 -> `select r.id, public.api_available_credits(org, now)
-- from public.reserve_credits(...) r` answers 9.886 (a subquery in its place would answer 10).
--
-- The rule is get_credit_balance's: from the balance row alone while no grant is due to expire
-- (next_expiry_at is never later than the truth), else get_credit_balance, which discounts grants
-- past expiry that no call has expired yet. Null for an organization without a balance row.
create function public.api_available_credits(p_org_id uuid, p_now timestamptz) returns numeric(20, 3)
  language sql volatile set search_path = '' as $$
  select case when b.next_expiry_at is null or b.next_expiry_at > p_now
      then ledger.balance_of(b) - ledger.reserved_in(h, b)
      else (select g.available_credits from public.get_credit_balance(p_org_id, p_now) g)
    end
  from public.credit_balances b
  join public.credit_holds h on h.organization_id = b.organization_id
  where b.organization_id = p_org_id
$$;
comment on function public.api_available_credits(uuid, timestamptz) is
  'An organization''s available credits at p_now (as get_credit_balance), VOLATILE on purpose: called after a ledger function in the same statement, it sees that function''s changes. Not tracked in Hasura; the api reads it with each reserve, settle and release.';
