-- Why: the jobs expire_reservations, expire_grants and roll_billing_periods did every organization
-- in one transaction. Each organization's locks were kept until the whole run committed: with
-- thousands of organizations due at once (a promotion expiring for everyone, a backlog after an
-- outage) the run ran out of lock slots ("out of shared memory"), failed again every hour, and
-- made other organizations' calls fail meanwhile; below that, one busy organization stalled every
-- organization before it, and a cancelled run kept nothing. The api now runs these jobs one
-- organization per transaction, in batches (api/src/jobs/index.ts); these are the per-organization
-- steps, the same work as one turn of the global functions' loops (which stay, unchanged, for
-- callers that run them by hand). roll_billing_period(org, now) already existed.
--
-- Example: 20,000 organizations with a promotion expiring at 12:00. Before: expire_grants('12:00')
-- held 40,000 advisory locks until its end, or failed. Now: expire_organization_grants(org, '12:00')
-- for each, each committing on its own.

create function public.expire_organization_reservations(p_org_id uuid, p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_held numeric(20, 3);
  v_n integer;
begin
  with expired as (
    update public.credit_reservations r
    set status = 'expired', resolved_at = p_now, updated_at = p_now
    where r.id in (
      select r2.id from public.credit_reservations r2
      where r2.organization_id = p_org_id and r2.status = 'open' and r2.expires_at <= p_now
      order by r2.id
      for update
    )
    and r.status is not distinct from 'open'
    returning r.amount_credits
  )
  select count(*), coalesce(sum(amount_credits), 0) into v_n, v_held from expired;
  if v_n > 0 then
    -- expire_due_grants needs the ledger lock, the holds and the balance row.
    perform ledger.lock_organization(p_org_id);
    update public.credit_balances
    set released_credits = released_credits + v_held, updated_at = p_now
    where organization_id = p_org_id;
    perform ledger.expire_due_grants(p_org_id, p_now);
  end if;
  return v_n;
end;
$$;
comment on function public.expire_organization_reservations(uuid, timestamptz) is
  'One organization''s turn of expire_reservations: its open reservations past expires_at become expired and their holds return; returns how many. The api''s job runs it per organization, each in its own transaction. Not tracked in Hasura.';

create function public.expire_organization_grants(p_org_id uuid, p_now timestamptz default now()) returns integer
  language plpgsql volatile set search_path = '' as $$
begin
  perform ledger.lock_organization(p_org_id);
  return ledger.expire_due_grants(p_org_id, p_now);
end;
$$;
comment on function public.expire_organization_grants(uuid, timestamptz) is
  'One organization''s turn of expire_grants: its grants past expires_at are zeroed with expire entries (what open holds keep back waits); returns how many. The api''s job runs it per organization, each in its own transaction. Not tracked in Hasura.';
