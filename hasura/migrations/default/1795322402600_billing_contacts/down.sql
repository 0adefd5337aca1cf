-- 1795322402500_auto_topup_price_change's turn_off_auto_topup_of_pack (owners only), and no billing_contacts.
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

drop function ledger.billing_contacts(uuid);
