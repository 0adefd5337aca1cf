-- The hourly expire_grants job prunes two tables in bounded batches: the bodies of Stripe events
-- processed over 90 days ago, and the playground's key claims older than a week. Without an index
-- each run read the whole table, and for stripe_events it opened every stored body (`payload ?
-- 'data'`, often TOASTed) to find the few to prune. These indexes hold only what a run may still
-- have to prune: an event leaves its index once its body is dropped.
create index stripe_events_unpruned_idx on public.stripe_events (processed_at) where payload ? 'data';
comment on index public.stripe_events_unpruned_idx is
  'Stripe events whose body is still stored, by processing time: the expire_grants job drops bodies over 90 days old.';

create index playground_runs_started_idx on ledger.playground_runs (started_at);
comment on index ledger.playground_runs_started_idx is
  'The playground''s key claims by start: the expire_grants job deletes those older than a week.';

-- The one function without a comment (docs/data-model.md says every function has one).
comment on function ledger.format_credits(numeric) is
  'Credits as notifications write them, as the web app''s formatCredits does: thousands separated by commas, at most three places, no trailing zeros ("2,949.373", "3,000").';
