// createTopUpCheckout(packageId): owners and admins start a Stripe Checkout (payment mode) for a
// credit pack. The org's Stripe customer is created once; the purchase row is written `pending`
// first (so a paid session always finds it), then the session, whose metadata names the org, the
// package and the purchase. Credits are granted by the webhook when Stripe says it is paid, never
// on the redirect back.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { minorUnitsForStripe } from '../decimal.ts';
import { AppError } from '../errors.ts';
import { ensureCustomer, requireBillingActor, requirePayments, viaProvider } from '../payments/index.ts';
import { type ActionContext, defineAction } from './context.ts';

export const input = z.object({ packageId: z.uuid('packageId must be a uuid') });

export interface TopUpCheckout {
  purchaseId: string;
  checkoutUrl: string;
}

export async function createTopUpCheckout(ctx: ActionContext, args: z.output<typeof input>): Promise<TopUpCheckout> {
  const payments = requirePayments(ctx.payments);
  const actor = await requireBillingActor(ctx.db, ctx.session);
  const { rows } = await ctx.db.query<{
    id: string;
    name: string;
    credits: string;
    price_minor: string;
    currency: string;
    auto_topup: boolean;
  }>(
    `select p.id, p.name, p.credits::text, p.price_minor::text, p.currency,
       coalesce((select s.enabled from public.auto_topup_settings s where s.organization_id = $2), false) as auto_topup
     from public.topup_packages p where p.id = $1 and p.is_active`,
    [args.packageId, actor.orgId],
  );
  const pack = rows[0];
  if (!pack) throw new AppError('INVALID_INPUT', `no top-up package ${args.packageId} is on sale`);
  const customerId = await viaProvider(() => ensureCustomer(ctx.db, payments.provider, actor.orgId));
  const purchaseId = randomUUID();
  await ctx.db.query(
    `insert into public.topup_purchases (id, organization_id, package_id, user_id, credits, price_minor, currency, status, created_at, updated_at)
     values ($1, $2, $3, $4, $5::numeric, $6::bigint, $7, 'pending', $8, $8)`,
    [purchaseId, actor.orgId, pack.id, actor.userId, pack.credits, pack.price_minor, pack.currency, ctx.clock()],
  );
  const session = await viaProvider(() =>
    payments.provider.createTopUpCheckout({
      customerId,
      orgId: actor.orgId,
      purchaseId,
      packageId: pack.id,
      packageName: pack.name,
      priceMinor: minorUnitsForStripe(pack.price_minor),
      currency: pack.currency,
      saveCard: pack.auto_topup,
      successUrl: `${payments.webOrigin}/credits?topup=success&purchase_id=${purchaseId}`,
      cancelUrl: `${payments.webOrigin}/credits?topup=canceled`,
      idempotencyKey: `topup_checkout:${purchaseId}`,
    }),
  ).catch(async (error: unknown) => {
    // No session: the purchase can never be paid.
    await ctx.db.query("update public.topup_purchases set status = 'canceled' where id = $1 and status = 'pending'", [purchaseId]);
    throw error;
  });
  await ctx.db.query('update public.topup_purchases set stripe_checkout_session_id = $2 where id = $1', [purchaseId, session.sessionId]);
  return { purchaseId, checkoutUrl: session.url };
}

export default defineAction(input, createTopUpCheckout);
