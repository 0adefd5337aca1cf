-- Why: undo 1795322401500_notifications_sent_at.
drop index public.notifications_unsent_idx;
alter table public.notifications drop column sent_at;
