-- Why: undo 1795322400500_release_late_reserve: release_reservation as 1795322400001_ledger_functions
-- made it, without the second UPDATE after the fallback's lookup.
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
    -- Missing, another org's, or already resolved: each raises its error here.
    perform ledger.lock_open_reservation(p_reservation_id, ledger.find_reservation(p_reservation_id, p_org_id));
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
