-- Why: what only an organization's billing managers can act on (a payment the bank wants confirmed,
-- a declined or unusable card, auto top-up turned off) was told to its owners alone. Nothing stops
-- the last owner from leaving or being made an admin, and an app that mirrors its own roles may map
-- its billing managers to admin and have no owners at all: such an org was told nothing, and could
-- run out of credits with auto top-up off and no one knowing. Admins manage billing too (they buy
-- packs and set auto top-up). The billing contacts are now the owners, or the admins when there is
-- no owner; the api (notifyOwners) and the database's own notices read them from this one function.
--
-- Example: an org whose only owner became an admin, with one more admin and a member: its pack is
-- made dearer, and both admins get auto_topup_disabled (before: no one). Once someone is an owner
-- again, only the owners are told.
create function ledger.billing_contacts(p_org_id uuid) returns setof uuid
  language sql stable set search_path = '' as $$
  select m.user_id
  from public.organization_members m
  where m.organization_id = p_org_id
    and m.role = case
      when exists (select 1 from public.organization_members o where o.organization_id = p_org_id and o.role = 'owner') then 'owner'
      else 'admin' end
  order by m.user_id
$$;
comment on function ledger.billing_contacts(uuid) is
  'Who is told what only billing managers can act on: the organization''s owners, or its admins when it has no owner. In user id order.';

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
    select v_org, c.user_id, 'auto_topup_disabled', 'Auto top-up is off',
      case when v_on_sale
        then format('The pack %s that auto top-up bought changed its price or credits. Check it and turn auto top-up on again to buy it as it is now.', v_name)
        else format('The pack %s that auto top-up bought is no longer on sale. Choose another pack and turn auto top-up on again.', v_name) end,
      '/credits',
      format('auto_topup_disabled:%s:%s:%s:%s', case when v_on_sale then 'pack_changed' else 'pack_off_sale' end, p_package_id,
        to_char(p_now at time zone 'UTC', 'YYYYMMDD"T"HH24MISSUS'), c.user_id),
      p_now
    from ledger.billing_contacts(v_org) as c (user_id)
    on conflict (organization_id, dedupe_key) do nothing;
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function ledger.turn_off_auto_topup_of_pack(uuid, timestamptz) is
  'Turns auto top-up off, with the reason, for every organization whose auto top-up is on with this package (one taken off sale, or on sale with a higher price, fewer credits or another currency), and notifies each one''s billing contacts (ledger.billing_contacts: owners, else admins; auto_topup_disabled, sent by the usage_notifications job). Returns how many organizations.';
