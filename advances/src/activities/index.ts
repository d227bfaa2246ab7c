import { moneyActivities, type MoneyActivityDeps } from './money-activities.js';
import { reconciliationActivities } from './reconciliation-activities.js';

/** Every activity the advances worker registers, bound to its dependencies. */
export function createActivities(deps: MoneyActivityDeps) {
  return { ...moneyActivities(deps), ...reconciliationActivities(deps) };
}

/** The activities' signatures, which is all the workflows import. */
export type Activities = ReturnType<typeof createActivities>;
