-- Why: reserveCredits answers `replayed` (the key's reservation was there before this request), so
-- that a caller releases only holds it made. The api worked it out in the same statement as the
-- reserve, with a subquery over credit_reservations read in the statement's snapshot: a row the
-- reserve inserted is not in it, a row it found is. But a reservation inserted by another request
-- with the same key that committed after this statement began is not in that snapshot either: this
-- request's reserve waits for it on the key and answers it, and the api said `replayed: false`. Both
-- callers then took the hold for their own, and the one whose AI call failed released the hold the
-- other's call was running on, which then could not be settled: a call never charged.
--
-- This function reads the reservation in a new snapshot (VOLATILE: evaluated after the reserve in
-- the select list over its row, as api_available_credits) and answers whether its row version was
-- written by the calling transaction, whatever committed in between. (A reserve made inside a
-- subtransaction wrote its row with the subtransaction's id: false, so replayed, the side on which a
-- caller keeps the hold rather than releasing another's. The api makes none.)
--
-- Example: request A reserves key K and has not committed; request B's statement starts, its reserve
-- waits on K; A commits; B's reserve answers A's reservation, and api_reservation_is_new(its id) in
-- B's statement is false (so B answers replayed: true); in A's statement it was true.
create function public.api_reservation_is_new(p_reservation_id uuid) returns boolean
  language sql volatile set search_path = '' as $$
  select coalesce(r.xmin = pg_catalog.pg_current_xact_id_if_assigned()::xid, false)
  from public.credit_reservations r
  where r.id = p_reservation_id
$$;
comment on function public.api_reservation_is_new(uuid) is
  'Whether the reservation''s row was written by the calling transaction, read in a new snapshot (VOLATILE on purpose: called after reserve_credits in the same statement, it sees what committed meanwhile). Not tracked in Hasura; the api answers replayed = not this.';
