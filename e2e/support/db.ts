// Reads the database the stack runs on, to check each journey there as well as in the page.
import pg from 'pg';
import { stackEnv } from './env.ts';

export async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: stackEnv.database() });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface BalanceRow {
  available_credits: string;
  reserved_credits: string;
}

export async function balanceOf(orgId: string): Promise<BalanceRow> {
  const rows = await query<BalanceRow>(
    'select available_credits::text, reserved_credits::text from public.organization_credit_balances where organization_id = $1',
    [orgId],
  );
  if (!rows[0]) throw new Error(`no balance row for org ${orgId}`);
  return rows[0];
}

/** A fingerprint of everything an org owns that moves money: equal before and after = untouched. */
export async function moneyFingerprint(orgId: string): Promise<string> {
  const rows = await query<{ fingerprint: string }>(
    `select md5(concat_ws('|',
        (select string_agg(concat_ws(',', id, remaining_credits), ';' order by id) from public.credit_grants where organization_id = $1),
        (select string_agg(concat_ws(',', id, status, amount_credits), ';' order by id) from public.credit_reservations where organization_id = $1),
        (select count(*)::text from public.credit_ledger_entries where organization_id = $1),
        (select string_agg(concat_ws(',', enabled, threshold_credits), ';') from public.auto_topup_settings where organization_id = $1),
        (select string_agg(concat_ws(',', daily_limit_credits, monthly_limit_credits, per_call_limit_credits), ';') from public.spend_limits where organization_id = $1),
        (select string_agg(concat_ws(',', plan_id, pending_plan_id), ';') from public.organization_subscriptions where organization_id = $1)
      )) as fingerprint`,
    [orgId],
  );
  return rows[0]?.fingerprint ?? '';
}
