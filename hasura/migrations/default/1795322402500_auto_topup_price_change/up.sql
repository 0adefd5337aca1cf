-- Why: auto top-up charges the pack's price at the time of each attempt. A team that raised a pack's
-- price (or cut its credits, or changed its currency) while it stayed on sale had every org whose
-- auto top-up buys it charged the new amount off-session at its next dip, without anyone there
-- agreeing to it: the owner turned auto top-up on seeing 1,000p for 500 credits and was charged
-- 4,000p. Operations.md told teams to take the pack off sale and add a new one instead, which is
-- easy to miss. Now a pack on sale that gets worse for the buyer (a higher price, fewer credits, or
-- another currency) turns auto top-up off for the orgs that buy it, with the reason, and tells their
-- owners, as taking it off sale does (1795322402200_auto_topup_rules): turning it on again is
-- agreeing to the pack as it is then. A lower price, or more credits for it, stays on: the charge is
-- no more than was agreed, for no fewer credits. An attempt already started charges the price it
-- recorded when it was claimed.
--
-- Example: pack "500 credits" at 1,000p, org A's auto top-up on with it. The team sets price_minor =
-- 4000: before, A's next dip charged 4,000p; now A's auto top-up is off, disabled_reason "Turned off
-- because the pack 500 credits changed its price or credits; check it and turn auto top-up on again",
-- and A's owners get an auto_topup_disabled notification. Setting price_minor = 900 leaves it on.

create or replace function ledger.turn_off_auto_topup_of_pack(p_package_id uuid, p_now timestamptz) returns integer
  language plpgsql volatile set search_path = '' as $$
declare
  v_name text;
  v_on_sale boolean;
  v_org uuid;
  v_count integer := 0;
begin
  select k.name, k.is_active into v_name, v_on_sale from public.topup_packages k where k.id = p_package_id;
  for v_org in
    update public.auto_topup_settings s
    set enabled = false,
        disabled_reason = case when v_on_sale
          then format('Turned off because the pack %s changed its price or credits; check it and turn auto top-up on again', v_name)
          else format('Turned off because the pack %s is no longer on sale; choose another pack and turn it on again', v_name) end
    where s.package_id = p_package_id and s.enabled
    returning s.organization_id
  loop
    insert into public.notifications (organization_id, user_id, kind, title, body, action_url, dedupe_key, created_at)
    select v_org, m.user_id, 'auto_topup_disabled', 'Auto top-up is off',
      case when v_on_sale
        then format('The pack %s that auto top-up bought changed its price or credits. Check it and turn auto top-up on again to buy it as it is now.', v_name)
        else format('The pack %s that auto top-up bought is no longer on sale. Choose another pack and turn auto top-up on again.', v_name) end,
      '/credits',
      format('auto_topup_disabled:%s:%s:%s:%s', case when v_on_sale then 'pack_changed' else 'pack_off_sale' end, p_package_id,
        to_char(p_now at time zone 'UTC', 'YYYYMMDD"T"HH24MISSUS'), m.user_id),
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
  'Turns auto top-up off, with the reason, for every organization whose auto top-up is on with this package (one taken off sale, or on sale with a higher price, fewer credits or another currency), and notifies each one''s owners (auto_topup_disabled, sent by the usage_notifications job). Returns how many organizations.';

comment on function ledger.auto_topup_pack_off_sale() is
  'Trigger of topup_packages: a package taken off sale (is_active true -> false), or on sale with a higher price, fewer credits or another currency, turns auto top-up off for the organizations that buy it (ledger.turn_off_auto_topup_of_pack).';

-- After topup_packages_off_sale (triggers of one event fire in name order); an update that takes the
-- pack off sale is that trigger's alone (this one's condition needs it on sale).
create trigger topup_packages_price_change
  after update of price_minor, credits, currency on public.topup_packages
  for each row when (new.is_active and (new.price_minor > old.price_minor or new.credits < old.credits or new.currency <> old.currency))
  execute function ledger.auto_topup_pack_off_sale();
