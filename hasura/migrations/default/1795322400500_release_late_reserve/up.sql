-- Why: release_reservation answered an empty row and left the hold open when its reservation's
-- reserve committed between release's first UPDATE, whose snapshot did not yet show the row, and
-- the lookup after it, which found the row open and so raised nothing. After that lookup, which
-- locks the open reservation, release now releases it with a second UPDATE, as settle already
-- resolved such a reservation under its lock. A caller has a reservation's id only from a reserve
-- that returned, so this needs a reserve whose id travels before its transaction commits; a
-- ledger test makes the window happen (db/test/ledger-concurrency.test.ts).
--
-- Example: reserve R (4 credits) in a transaction still open; release_reservation(R) starts its
-- UPDATE, which finds nothing; the reserve commits; the lookup finds R open. Before: release
-- returned all nulls and R stayed open (4 credits held until R expired). Now: R is released and
-- its 4 credits are available again.
create or replace function public.release_reservation(
  p_reservation_id uuid,
  p_reason text default null,
  p_org_id uuid default null,
  p_now timestamptz default now()
) returns public.credit_reservations
  language plpgsql volatile set search_path = '' as $$
declare
  v_org_id uuid;
  v_due boolean;
  v_reservation public.credit_reservations;
begin
  -- One statement, as settle's common case: an open reservation of this org, released (which
  -- locks its row, first in the lock order).
  update public.credit_reservations r
  set status = 'released', release_reason = p_reason, resolved_at = p_now, updated_at = p_now
  where r.id = p_reservation_id and r.status is not distinct from 'open' and (p_org_id is null or r.organization_id = p_org_id)
  returning * into v_reservation;
  if not found then
    -- Missing, another org's, or already resolved: each raises its error here. An open one was
    -- made by a reserve that committed after the UPDATE above took its snapshot: locked now, it is
    -- released here.
    perform ledger.lock_open_reservation(p_reservation_id, ledger.find_reservation(p_reservation_id, p_org_id));
    update public.credit_reservations r
    set status = 'released', release_reason = p_reason, resolved_at = p_now, updated_at = p_now
    where r.id = p_reservation_id
    returning * into v_reservation;
  end if;
  v_org_id := v_reservation.organization_id;
  select b.next_expiry_at <= p_now into v_due from public.credit_balances b where b.organization_id = v_org_id;
  if v_due then
    perform ledger.lock_organization(v_org_id);
  end if;
  update public.credit_balances
  set released_credits = released_credits + v_reservation.amount_credits, updated_at = p_now
  where organization_id = v_org_id;
  if v_due then
    perform ledger.expire_due_grants(v_org_id, p_now);
  end if;
  return v_reservation;
end;
$$;
