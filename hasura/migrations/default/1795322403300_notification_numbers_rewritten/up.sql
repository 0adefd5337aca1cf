-- Why: notifications written before migration 1795322401800_notification_credit_numbers keep their
-- credit amounts as Postgres printed a numeric(20, 3), and the billing page shows them beside the
-- newer ones as written: "2949.373 credits available, below the threshold of 5000.000" next to
-- "2,949.373 credits available, below the threshold of 3,000". notify_usage_thresholds writes them
-- with ledger.format_credits since that migration; the rows it wrote before are rewritten here the
-- same way, so that every notification says credits alike. Notifications are kept (never pruned),
-- so without this the old text stayed on the page.
--
-- Only the two bodies that function wrote with numbers, and only while they still hold a raw
-- numeric (digits, a point, three decimals): a body written since is left as it is, and running
-- this again changes nothing. Titles, dedupe keys (low_balance:<period>:<threshold> keeps the raw
-- threshold, as the function still writes it) and read or sent times are untouched.
--
-- Example: "2949.373 credits available, below the threshold of 5000.000." →
-- "2,949.373 credits available, below the threshold of 5,000."; "250.500 of 500.000 allowance
-- credits used since 2026-11-01." → "250.5 of 500 allowance credits used since 2026-11-01.".

update public.notifications n
set body = format('%s credits available, below the threshold of %s.', ledger.format_credits(m.parts[1]::numeric),
  ledger.format_credits(m.parts[2]::numeric))
from (
  select id, regexp_match(body, '^(-?\d+\.\d{3}) credits available, below the threshold of (-?\d+\.\d{3})\.$') as parts
  from public.notifications
  where kind = 'low_balance'
) m
where n.id = m.id and m.parts is not null;

update public.notifications n
set body = format('%s of %s allowance credits used since %s.', ledger.format_credits(m.parts[1]::numeric),
  ledger.format_credits(m.parts[2]::numeric), m.parts[3])
from (
  select id, regexp_match(body, '^(-?\d+\.\d{3}) of (-?\d+\.\d{3}) allowance credits used since (.+)\.$') as parts
  from public.notifications
  where kind = 'usage_threshold'
) m
where n.id = m.id and m.parts is not null;
