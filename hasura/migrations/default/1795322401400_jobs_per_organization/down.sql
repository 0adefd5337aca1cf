-- Why: undo 1795322401400_jobs_per_organization: the per-organization job steps dropped.
drop function public.expire_organization_grants(uuid, timestamptz);
drop function public.expire_organization_reservations(uuid, timestamptz);
