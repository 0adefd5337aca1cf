// POST /events/:trigger — Hasura's event triggers, behind the shared secret. `auto_topup_check`
// fires on every insert into auto_topup_checks, which the ledger writes only when a credits-out
// entry may have taken an org with auto top-up below its threshold (migration 1795322400400): the
// org's auto top-up runs at once (claim_auto_topup_attempt decides exactly), then the check is
// deleted. The auto top-up sweep is the safety net.
import express, { type Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { AppError, invalidInputFromZod } from '../errors.ts';
import { runAutoTopUp } from '../payments/auto-topup.ts';
import type { Payments } from '../payments/index.ts';

export interface EventDeps {
  db: pg.Pool;
  payments: Payments;
  clock: () => Date;
  logger?: Pick<Console, 'error' | 'info'>;
}

/** The part of Hasura's event payload this handler reads: the inserted check. */
const checkEvent = z.object({
  event: z.object({
    op: z.literal('INSERT'),
    data: z.object({
      new: z.object({ id: z.union([z.number().int(), z.string().regex(/^\d+$/)]), organization_id: z.uuid() }).loose(),
    }),
  }),
  trigger: z.object({ name: z.string() }).optional(),
});

export function eventsRouter(deps: EventDeps): Router {
  const router = express.Router();
  router.post('/events/:trigger', async (req, res) => {
    if (req.params.trigger !== 'auto_topup_check') throw new AppError('NOT_FOUND', `no event trigger named ${req.params.trigger}`);
    const parsed = checkEvent.safeParse(req.body);
    if (!parsed.success) throw invalidInputFromZod(parsed.error, 'event payload');
    const check = parsed.data.event.data.new;
    const status = await runAutoTopUp(deps, check.organization_id, deps.clock());
    // Handled: a redelivery of this event finds the attempt (in flight or within its cooldown) and
    // starts nothing, so deleting after the attempt is safe either way.
    await deps.db.query('delete from public.auto_topup_checks where id = $1', [String(check.id)]);
    res.json({ autoTopUp: status });
  });
  return router;
}
