import type { AdvanceStatusName, PaymentStatusName } from '../domain/advance-types.js';
import { disbursementRequestId, paymentRequestId } from '../ledger/request-ids.js';
import type { Finding, FindingKind, FindingSeverity } from './findings.js';

/** What the reconciliation knows of one advance, from the projection. */
export interface AdvanceToReconcile {
  advanceId: string;
  accountId: string;
  amount: bigint;
  status: AdvanceStatusName;
  createTime: Date;
  disbursementTransactionId: string | null;
  payments: PaymentToReconcile[];
}

export interface PaymentToReconcile {
  number: number;
  amount: bigint;
  status: PaymentStatusName;
  dueTime: Date;
  transactionId: string | null;
  rolledInto: number | null;
}

/** A ledger transaction this service made (or that claims to be an advance's), as mirrored from the ledger. */
export interface LedgerMovement {
  transactionId: string;
  requestId: string | null;
  advanceId: string;
  accountId: string;
  direction: 'CREDIT' | 'DEBIT';
  amount: bigint;
  status: 'SUCCESS' | 'FAILED';
  description: string;
  createTime: Date;
}

export interface ReconcileOptions {
  now: Date;
  /** A payment SCHEDULED or PROCESSING, or an advance DISBURSING, this long past due is stuck. */
  stuckAfterMs: number;
}

/** One movement the projection says the ledger must (or may) hold. */
interface ExpectedMovement {
  subject: string;
  requestId: string;
  direction: 'CREDIT' | 'DEBIT';
  amount: bigint;
  /** What the projection recorded: the ledger's answer must agree. */
  recorded: { status: 'SUCCESS' | 'FAILED'; transactionId: string | null } | 'in-flight' | 'not-yet';
}

/**
 * Compares one advance with the ledger, both ways (DESIGN.md §5):
 * - the seed rule: its payments add up to its amount;
 * - each disbursement and payment against its ledger transaction, whatever its
 *   status here (PAID must be a SUCCESS debit, FAILED a FAILED one, SCHEDULED
 *   none yet);
 * - each ledger movement that names this advance against a payment or the
 *   disbursement here: a stray or duplicate one is found;
 * - a disbursement or payment well past due.
 */
export function reconcileAdvance(
  advance: AdvanceToReconcile,
  movements: LedgerMovement[],
  options: ReconcileOptions,
): Finding[] {
  const findings: Finding[] = [];
  const found = (kind: FindingKind, subject: string, detail: string, severity: FindingSeverity = 'CRITICAL') =>
    findings.push({ advanceId: advance.advanceId, kind, subject, detail, severity });

  const seedProblem = checkSeedRule(advance);
  if (seedProblem) found('PAYMENTS_DO_NOT_ADD_UP', 'schedule', seedProblem);

  const expected = expectedMovements(advance);
  const byRequestId = new Map(movements.filter((m) => m.requestId).map((m) => [m.requestId!, m]));
  for (const want of expected) {
    const movement = byRequestId.get(want.requestId) ?? null;
    const problem = compareMovement(want, movement, advance.accountId);
    if (problem) found(problem.kind, want.subject, `${want.subject}: ${problem.detail}`);
  }

  const expectedIds = new Set(expected.map((want) => want.requestId));
  const unexpected = movements.filter((movement) => !(movement.requestId && expectedIds.has(movement.requestId)));
  for (const movement of withoutReversedPairs(unexpected)) {
    found(
      'LEDGER_MOVEMENT_WITHOUT_PAYMENT',
      `ledger ${movement.transactionId}`,
      `ledger transaction ${movement.transactionId} (${movement.status} ${movement.direction} of ${movement.amount} on account ${movement.accountId}, "${movement.description}") matches no payment or disbursement of this advance`,
      movement.status === 'SUCCESS' ? 'CRITICAL' : 'WARNING',
    );
  }

  for (const stuck of stuckSteps(advance, options)) found(stuck.kind, stuck.subject, stuck.detail, 'WARNING');
  return findings;
}

const REVERSAL = /: reversal of (\S+)$/;

/**
 * Drops each stray movement that ops reversed (a SUCCESS movement the other way,
 * same account and amount, described "reversal of <transaction id>") together
 * with its reversal: the pair moved no money.
 */
function withoutReversedPairs(movements: LedgerMovement[]): LedgerMovement[] {
  const settled = new Set<string>();
  for (const reversal of movements) {
    const reversedId = REVERSAL.exec(reversal.description)?.[1];
    const stray = movements.find((m) => m.transactionId === reversedId);
    if (!stray || reversal.status !== 'SUCCESS' || stray.status !== 'SUCCESS') continue;
    if (
      stray.direction === reversal.direction ||
      stray.amount !== reversal.amount ||
      stray.accountId !== reversal.accountId
    )
      continue;
    settled.add(stray.transactionId).add(reversal.transactionId);
  }
  return movements.filter((movement) => !settled.has(movement.transactionId));
}

/** The seed rule, by status; null when it holds. */
function checkSeedRule(advance: AdvanceToReconcile): string | null {
  const sum = (statuses: PaymentStatusName[]) =>
    advance.payments.filter((p) => statuses.includes(p.status)).reduce((total, p) => total + p.amount, 0n);
  switch (advance.status) {
    case 'DISBURSING':
    case 'DISBURSEMENT_FAILED':
      return advance.payments.length > 0 ? `${advance.status} but has ${advance.payments.length} payment(s)` : null;
    case 'REPAID': {
      const paid = sum(['PAID']);
      const open = advance.payments.filter((p) => p.status === 'SCHEDULED' || p.status === 'PROCESSING').length;
      if (paid !== advance.amount)
        return `REPAID but paid payments add up to ${paid}, the advance is ${advance.amount}`;
      return open > 0 ? `REPAID but ${open} payment(s) are still scheduled or processing` : null;
    }
    case 'ACTIVE':
    case 'OVERDUE': {
      const owed = sum(['PAID', 'SCHEDULED', 'PROCESSING']);
      if (owed !== advance.amount)
        return `paid + scheduled + processing payments add up to ${owed}, the advance is ${advance.amount}`;
      const numbers = new Set(advance.payments.map((p) => p.number));
      const lost = advance.payments.find(
        (p) => p.status === 'FAILED' && (p.rolledInto === null || !numbers.has(p.rolledInto)),
      );
      return lost ? `payment ${lost.number} failed but rolled into ${lost.rolledInto ?? 'nothing'}` : null;
    }
  }
}

function expectedMovements(advance: AdvanceToReconcile): ExpectedMovement[] {
  const disbursement: ExpectedMovement = {
    subject: 'disbursement',
    requestId: disbursementRequestId(advance.advanceId),
    direction: 'CREDIT',
    amount: advance.amount,
    recorded:
      advance.status === 'DISBURSING'
        ? 'in-flight'
        : {
            status: advance.status === 'DISBURSEMENT_FAILED' ? 'FAILED' : 'SUCCESS',
            transactionId: advance.disbursementTransactionId,
          },
  };
  const payments = advance.payments.map(
    (payment): ExpectedMovement => ({
      subject: `payment ${payment.number}`,
      requestId: paymentRequestId(advance.advanceId, payment.number),
      direction: 'DEBIT',
      amount: payment.amount,
      recorded:
        payment.status === 'SCHEDULED'
          ? 'not-yet'
          : payment.status === 'PROCESSING'
            ? 'in-flight'
            : { status: payment.status === 'PAID' ? 'SUCCESS' : 'FAILED', transactionId: payment.transactionId },
    }),
  );
  return [disbursement, ...payments];
}

/** How one expected movement and the ledger's transaction disagree; null when they agree. */
function compareMovement(
  want: ExpectedMovement,
  movement: LedgerMovement | null,
  accountId: string,
): { kind: FindingKind; detail: string } | null {
  if (want.recorded === 'not-yet') {
    return movement
      ? {
          kind: 'PAYMENT_LEDGER_MISMATCH',
          detail: `not yet due here, but the ledger already holds ${movement.status} transaction ${movement.transactionId}`,
        }
      : null;
  }
  if (!movement) {
    return want.recorded === 'in-flight'
      ? null
      : {
          kind: 'PAYMENT_WITHOUT_LEDGER_MOVEMENT',
          detail: `recorded ${want.recorded.status === 'SUCCESS' ? 'done' : 'refused'} with transaction ${want.recorded.transactionId ?? '(none)'}, which the ledger does not hold`,
        };
  }
  const problems: string[] = [];
  if (want.recorded !== 'in-flight') {
    if (movement.status !== want.recorded.status) {
      problems.push(
        want.recorded.status === 'FAILED'
          ? 'FAILED here but SUCCESS in the ledger (the money was taken, and rolled forward as well)'
          : `SUCCESS here but ${movement.status} in the ledger`,
      );
    }
    if (movement.transactionId !== want.recorded.transactionId)
      problems.push(
        `transaction ${want.recorded.transactionId ?? '(none)'} here, ${movement.transactionId} in the ledger`,
      );
  }
  if (movement.direction !== want.direction)
    problems.push(`direction ${movement.direction} in the ledger, ${want.direction} expected`);
  if (movement.amount !== want.amount) problems.push(`amount ${movement.amount} in the ledger, ${want.amount} here`);
  if (movement.accountId !== accountId) problems.push(`account ${movement.accountId} in the ledger, ${accountId} here`);
  return problems.length > 0 ? { kind: 'PAYMENT_LEDGER_MISMATCH', detail: problems.join('; ') } : null;
}

function stuckSteps(
  advance: AdvanceToReconcile,
  { now, stuckAfterMs }: ReconcileOptions,
): Array<{ kind: FindingKind; subject: string; detail: string }> {
  const late = (since: Date) => now.getTime() - since.getTime() > stuckAfterMs;
  const stuck: Array<{ kind: FindingKind; subject: string; detail: string }> = [];
  if (advance.status === 'DISBURSING' && late(advance.createTime)) {
    stuck.push({
      kind: 'ADVANCE_STUCK',
      subject: 'disbursement',
      detail: `DISBURSING since ${advance.createTime.toISOString()}`,
    });
  }
  for (const payment of advance.payments) {
    if ((payment.status === 'SCHEDULED' || payment.status === 'PROCESSING') && late(payment.dueTime)) {
      stuck.push({
        kind: 'PAYMENT_STUCK',
        subject: `payment ${payment.number}`,
        detail: `payment ${payment.number} is ${payment.status}, due ${payment.dueTime.toISOString()}`,
      });
    }
  }
  return stuck;
}
