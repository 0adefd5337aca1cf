// Hasura's action name → its handler. The router dispatches POST /actions on `action.name`; an
// action of part 2 (createTopUpCheckout, previewPlanChange, changePlan, cancelPlanChange) slots in here.
import cancelPlanChange from './cancelPlanChange.ts';
import changePlan from './changePlan.ts';
import checkAIAccess from './checkAIAccess.ts';
import type { ActionDefinition } from './context.ts';
import createTopUpCheckout from './createTopUpCheckout.ts';
import estimateCredits from './estimateCredits.ts';
import previewPlanChange from './previewPlanChange.ts';
import releaseCredits from './releaseCredits.ts';
import reserveCredits from './reserveCredits.ts';
import runPlayground from './runPlayground.ts';
import settleCredits from './settleCredits.ts';

export const actions: Record<string, ActionDefinition> = {
  checkAIAccess,
  estimateCredits,
  reserveCredits,
  settleCredits,
  releaseCredits,
  runPlayground,
  createTopUpCheckout,
  previewPlanChange,
  changePlan,
  cancelPlanChange,
};

export type { ActionContext, ActionDefinition } from './context.ts';
