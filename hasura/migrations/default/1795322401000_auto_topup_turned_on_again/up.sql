-- Why: two failed payments in a row turn auto top-up off (consecutive_failures 2, disabled_reason
-- set). When an owner turned it on again, both stayed: the billing page went on saying why it was
-- off while it was on, and the very next failure turned it off again at once (3 >= 2) instead of
-- after two. Turning it on (enabled false -> true, by any writer) now starts afresh: no failures
-- counted, no reason.
--
-- Example: settings of org O: enabled false, consecutive_failures 2, disabled_reason 'Turned off
-- after two payments in a row failed (last: card declined)'. An owner sets enabled = true: the row
-- becomes enabled true, consecutive_failures 0, disabled_reason null.
create function ledger.auto_topup_turned_on_again() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  if new.enabled and not old.enabled then
    new.consecutive_failures := 0;
    new.disabled_reason := null;
  end if;
  return new;
end;
$$;
comment on function ledger.auto_topup_turned_on_again() is
  'Trigger of auto_topup_settings: turning auto top-up on again clears the failures counted and the reason it was turned off.';

create trigger auto_topup_settings_turned_on_again
  before update of enabled on public.auto_topup_settings
  for each row execute function ledger.auto_topup_turned_on_again();
