comment on function ledger.format_credits(numeric) is null;
drop index if exists ledger.playground_runs_started_idx;
drop index if exists public.stripe_events_unpruned_idx;
