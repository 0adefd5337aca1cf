drop trigger topup_packages_price_change on public.topup_packages;

comment on function ledger.auto_topup_pack_off_sale() is
  'Trigger of topup_packages: a package taken off sale (is_active true -> false) turns auto top-up off for the organizations that buy it (ledger.turn_off_auto_topup_of_pack).';

create or replace function ledger.turn_off_auto_topup_of_pack(p_package_id uuid, p_now timestamptz) returns integer
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
