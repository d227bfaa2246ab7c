import { haltActivities } from './halt-activities.js';
import { moneyActivities, type MoneyActivityDeps } from './money-activities.js';
import { reconciliationActivities, type ReconciliationActivityDeps } from './reconciliation-activities.js';

/** Every activity the advances worker registers, bound to its dependencies. */
export function createActivities(deps: MoneyActivityDeps & ReconciliationActivityDeps) {
  return { ...moneyActivities(deps), ...reconciliationActivities(deps), ...haltActivities(deps) };
}

/** The activities' signatures, which is all the workflows import. */
export type Activities = ReturnType<typeof createActivities>;
