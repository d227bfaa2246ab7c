/**
 * Pure schedule arithmetic, shared by the workflow (deterministic: no clock,
 * no IO) and the activities that write the schedule to the database.
 */

/**
 * Splits `amount` minor units into `installments` whole-unit payments that add
 * up exactly; the remainder goes one unit each to the first payments, so no
 * payment differs from another by more than one unit.
 */
export function splitIntoInstallments(amount: bigint, installments: number): bigint[] {
  if (amount <= 0n) throw new RangeError(`amount must be positive, got ${amount}`);
  if (!Number.isInteger(installments) || installments < 1) throw new RangeError(`installments must be a positive integer, got ${installments}`);
  const count = BigInt(installments);
  const base = amount / count;
  const remainder = amount % count;
  return Array.from({ length: installments }, (_, index) => base + (BigInt(index) < remainder ? 1n : 0n))
    // An advance smaller than its installment count leaves trailing zero payments: drop them.
    .filter((share) => share > 0n);
}

/** When payment `number` is due: `number` intervals after the disbursement. */
export function dueTimeOf(disbursedAt: string, number: number, paymentIntervalMs: number): string {
  return new Date(Date.parse(disbursedAt) + number * paymentIntervalMs).toISOString();
}

/** 123456 → "1,234.56", for summaries people read in the Web UI. */
export function formatMinorUnits(amount: bigint | string): string {
  const value = BigInt(amount);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${(abs % 100n).toString().padStart(2, '0')}`;
}
