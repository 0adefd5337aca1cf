-- Why: a notification whose send to the outgoing adapter (NOTIFICATIONS_WEBHOOK_URL) failed, or
-- that the api never sent (it stopped between the commit and the send, or the row was written by
-- SQL alone, as a paid upgrade's is), was never sent again: nothing recorded what was sent. Now
-- sent_at records it; the api sets it after each send, and the usage_notifications job sends again
-- what is still unsent a minute after it was written (api/src/notifications/index.ts). The rows
-- that exist now count as sent, so that history is not sent again.
alter table public.notifications add column sent_at timestamptz;
update public.notifications set sent_at = created_at;
create index notifications_unsent_idx on public.notifications (created_at) where sent_at is null;
comment on column public.notifications.sent_at is
  'When the api handed the notification to the outgoing adapter (webhook or log); null: not yet (the usage_notifications job sends again what is unsent).';
