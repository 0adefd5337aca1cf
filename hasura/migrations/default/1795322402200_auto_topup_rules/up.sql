-- Why: an audit of auto top-up's rules found six ways it charged when it should not, or stopped
-- without a word.
-- 1. A failed attempt blocked new ones only through the cooldown. With cooldown 0, two settles at
--    once (or the next spend after a decline) started a second attempt, which declined too: two
--    failures in a row for one dip below the threshold, and auto top-up off. Now, after a failed
--    attempt, none starts for an hour or the cooldown, whichever is longer (from when it failed).
-- 2. Turned on without a saved card, every attempt failed at once (no_payment_method, no Stripe
--    call), counted as a failed payment, and the second turned auto top-up off with "update your
--    card": a dead end (a card is saved only when a pack is bought while auto top-up is on). Now no
--    attempt starts while there is no saved card, nothing is counted, and the row says so in
--    disabled_reason while it is on (trigger auto_topup_settings_wait_for_card, below), which the
--    billing page shows: "Auto top-up needs a card: buy a pack once with auto top-up on to save it".
--    The card saved clears it. A new card also clears the failures counted with the old one.
-- 3. A pack taken off sale left every org that had chosen it with auto top-up on, silently never
--    buying; put back on sale (at a new price, say), it charged at once, at that price, without
--    anyone agreeing to it. Now taking a pack off sale turns auto top-up off for the orgs using it,
--    with the reason, and tells their owners (ledger.turn_off_auto_topup_of_pack; trigger
--    topup_packages_off_sale): turning it on again means choosing a pack on sale at its price now.
--    Orgs already in that state are turned off by this migration, the same way.
-- 4. Attempts that waited for the bank's authentication (requires_action, nothing charged) counted
--    in the monthly count and money caps for the rest of the month. They no longer count: for their
--    first 24 hours they block new attempts anyway; after that one more is tried, which the cap
--    would otherwise have forbidden. One the owner completes later becomes succeeded, and counts.
-- 5. With a daily or monthly spend limit used up, auto top-up still bought a pack whose credits no
--    call could use until the limit had room again. Now no attempt starts while a spend limit leaves
--    no room (counted as reserve_credits counts it: consumed in the UTC day or month, plus held);
--    the auto top-up sweep (every 5 minutes) starts it once there is room again.
-- All of these but 3 are ledger.auto_topup_blocked, which the claim and the check written at a
-- settle's commit share (so a spend that could not start an attempt writes no check). The api's
-- part: a saved card Stripe refuses outright (removed from the customer: 400 invalid_request_error)
-- fails the attempt (payment_method_unusable) instead of leaving it in flight for ever; the api
-- clears the card and tells the owners, and the trigger below then says a card is needed.
--
-- Examples. Cooldown 0, a decline at 10:15: before, the spend at 10:16 charged the card again
-- (declined: auto top-up off); now nothing until 11:15. Auto top-up turned on without a card at
-- 10:15, 50 available, threshold 100: before, an attempt failed at 10:15 and another at 11:16, and
-- auto top-up was off; now no attempt, the row reads enabled true, disabled_reason 'Auto top-up needs
-- a card: ...', until a pack is bought. Monthly limit 50, 50 used: before, 500 credits bought for
-- 1,000p that could not be used until the 1st; now nothing until then.

-- The rules that keep an attempt from starting: 1, 2, 4 and 5 added.
create or replace function ledger.auto_topup_blocked(p_settings public.auto_topup_settings, p_now timestamptz) returns boolean
  language plpgsql stable set search_path = '' as $$
declare
  v_month_start timestamptz := date_trunc('month', p_now at time zone 'UTC') at time zone 'UTC';
  v_today date := (p_now at time zone 'UTC')::date;
  v_month date := date_trunc('month', p_now at time zone 'UTC')::date;
  v_price bigint;
  v_count int;
  v_minor bigint;
begin
  select k.price_minor into v_price from public.topup_packages k where k.id = p_settings.package_id and k.is_active;
  if not found then
    return true;
  end if;
  -- No saved card: an attempt could only fail, and would count as a failed payment.
  if p_settings.stripe_payment_method_id is null then
    return true;
  end if;
  if exists (
    select 1 from public.auto_topup_attempts a
    where a.organization_id = p_settings.organization_id
      and (a.status = 'in_flight'
        or a.created_at > p_now - make_interval(mins => p_settings.cooldown_minutes)
        -- Waiting for the bank's authentication: another off-session charge would want it too.
        or (a.status = 'requires_action' and a.created_at > p_now - interval '24 hours')
        -- Failed: the card is not tried again for an hour, or the cooldown if that is longer.
        or (a.status = 'failed'
          and a.resolved_at > p_now - greatest(interval '1 hour', make_interval(mins => p_settings.cooldown_minutes))))
  ) then
    return true;
  end if;
  -- A spend limit with no room left: the credits bought could not be used until it has room again.
  if exists (
    select 1
    from public.spend_limits l
    join public.credit_balances b on b.organization_id = l.organization_id
    join public.credit_holds h on h.organization_id = l.organization_id
    where l.organization_id = p_settings.organization_id
      and ((l.daily_limit_credits is not null
          and case when b.spend_day >= v_today then b.spend_day_credits else 0 end + ledger.reserved_in(h, b) >= l.daily_limit_credits)
        or (l.monthly_limit_credits is not null
          and case when b.spend_month >= v_month then b.spend_month_credits else 0 end + ledger.reserved_in(h, b) >= l.monthly_limit_credits))
  ) then
    return true;
  end if;
  -- Monthly caps count the attempts that charged or are being charged (not those that waited for
  -- the bank's authentication: they charged nothing).
  select count(*), coalesce(sum(a.price_minor), 0) into v_count, v_minor
  from public.auto_topup_attempts a
  where a.organization_id = p_settings.organization_id and a.created_at >= v_month_start
    and a.status in ('in_flight', 'succeeded');
  return (p_settings.monthly_max_count is not null and v_count >= p_settings.monthly_max_count)
    or (p_settings.monthly_max_minor is not null and v_minor + v_price > p_settings.monthly_max_minor);
end;
$$;
comment on function ledger.auto_topup_blocked(public.auto_topup_settings, timestamptz) is
  'Whether an auto top-up attempt may not start now, whatever the balance: no active package, no saved card, an attempt in flight, one within the cooldown, one waiting for the bank''s authentication for less than 24 hours, one that failed less than an hour (or the cooldown, if longer) ago, a daily or monthly spend limit with no room left (consumed plus held, as reserve_credits counts), or a monthly cap reached (counting in-flight and succeeded attempts). Shared by claim_auto_topup_attempt and ledger.write_auto_topup_check, so that no check (and no Hasura event) is written for a claim that would refuse.';

comment on function public.claim_auto_topup_attempt(uuid, timestamptz) is
  'Starts one auto top-up attempt (in_flight, with its idempotency key) when the organization''s auto top-up is on, available is below the threshold and ledger.auto_topup_blocked allows one (an active package, a saved card, no attempt in flight, the cooldown passed, no attempt waiting for the bank''s authentication for less than 24 hours, none failed within the hour or the cooldown if longer, room left under the daily and monthly spend limits, the monthly count and money caps). Null otherwise. The settings row lock and the one-in-flight index make racing claims start one attempt.';

-- 2. The row says when auto top-up is on but cannot buy for want of a card.
create function ledger.auto_topup_wait_for_card() returns trigger
  language plpgsql volatile set search_path = '' as $$
declare
  v_needs_card constant text := 'Auto top-up needs a card: buy a pack once with auto top-up on to save it';
begin
  -- A new card starts afresh: the failures counted with the old one do not count against it.
  if tg_op = 'UPDATE' and new.stripe_payment_method_id is not null
    and new.stripe_payment_method_id is distinct from old.stripe_payment_method_id then
    new.consecutive_failures := 0;
  end if;
  if new.enabled and new.stripe_payment_method_id is null then
    new.disabled_reason := v_needs_card;
  elsif new.disabled_reason = v_needs_card then
    new.disabled_reason := null;
  end if;
  return new;
end;
$$;
comment on function ledger.auto_topup_wait_for_card() is
  'Trigger of auto_topup_settings: while auto top-up is on without a saved card (no attempt starts, ledger.auto_topup_blocked), disabled_reason says that a pack bought with auto top-up on saves one; a saved card, or auto top-up off, clears that reason. A new card resets consecutive_failures.';

-- After auto_topup_settings_turned_on_again (triggers of one event fire in name order), which
-- clears the reason when auto top-up is turned on.
create trigger auto_topup_settings_wait_for_card
  before insert or update on public.auto_topup_settings
  for each row execute function ledger.auto_topup_wait_for_card();

-- 3. A pack taken off sale turns auto top-up off for the orgs that buy it, and tells their owners.
create function ledger.turn_off_auto_topup_of_pack(p_package_id uuid, p_now timestamptz) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_name text;
  v_org uuid;
  v_count integer := 0;
begin
  select k.name into v_name from public.topup_packages k where k.id = p_package_id;
  for v_org in
    update public.auto_topup_settings s
    set enabled = false,
        disabled_reason = format('Turned off because the pack %s is no longer on sale; choose another pack and turn it on again', v_name)
    where s.package_id = p_package_id and s.enabled
    returning s.organization_id
  loop
    insert into public.notifications (organization_id, user_id, kind, title, body, action_url, dedupe_key, created_at)
    select v_org, m.user_id, 'auto_topup_disabled', 'Auto top-up is off',
      format('The pack %s that auto top-up bought is no longer on sale. Choose another pack and turn auto top-up on again.', v_name),
      '/credits',
      format('auto_topup_disabled:pack_off_sale:%s:%s:%s', p_package_id, to_char(p_now at time zone 'UTC', 'YYYYMMDD"T"HH24MISSUS'), m.user_id),
      p_now
    from public.organization_members m
    where m.organization_id = v_org and m.role = 'owner'
    on conflict (organization_id, dedupe_key) do nothing;
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function ledger.turn_off_auto_topup_of_pack(uuid, timestamptz) is
  'Turns auto top-up off, with the reason, for every organization whose auto top-up is on with this package (one taken off sale), and notifies each one''s owners (auto_topup_disabled, sent by the usage_notifications job). Returns how many organizations.';

create function ledger.auto_topup_pack_off_sale() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  perform ledger.turn_off_auto_topup_of_pack(new.id, now());
  return null;
end;
$$;
comment on function ledger.auto_topup_pack_off_sale() is
  'Trigger of topup_packages: a package taken off sale (is_active true -> false) turns auto top-up off for the organizations that buy it (ledger.turn_off_auto_topup_of_pack).';

create trigger topup_packages_off_sale
  after update of is_active on public.topup_packages
  for each row when (old.is_active and not new.is_active)
  execute function ledger.auto_topup_pack_off_sale();

-- The rows as they are now: on with a pack already off sale, turned off (owners told); on without
-- a card, saying so (the trigger above sets the reason).
select ledger.turn_off_auto_topup_of_pack(k.id, now()) from public.topup_packages k where not k.is_active;
update public.auto_topup_settings s set disabled_reason = s.disabled_reason where s.enabled and s.stripe_payment_method_id is null;
