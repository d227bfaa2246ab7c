import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CollectPaymentInput } from '../../src/domain/advance-types.js';

/**
 * When each payment was really taken, read from the workflow's history: its
 * event times are the Temporal server's clock (the workflow's time, skipped
 * ahead on the time-skipping server), unlike the ledger's rows, which carry
 * wall time.
 */
export interface PaymentActivity {
  number: number;
  scheduledMs: number;
  /** When its last attempt started (the server writes a retried activity's started event at completion, with that time). */
  startedMs: number | null;
  completedMs: number | null;
  /** The last attempt's number: > 1 when it was retried. */
  attempt: number;
  /** Which worker ran the last attempt. */
  identity: string | null;
  /** Why the attempt before the last one ended, when it was retried. */
  previousAttemptEnded: 'HEARTBEAT_TIMEOUT' | 'START_TO_CLOSE_TIMEOUT' | 'FAILED' | null;
}

/** A history event's time in epoch milliseconds (its seconds are a Long or a number). */
function msOf(time: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  const seconds = time?.seconds ?? 0;
  return (
    (typeof seconds === 'number' ? seconds : seconds.toNumber()) * 1000 + Math.floor((time?.nanos ?? 0) / 1_000_000)
  );
}

const EventType = temporal.api.enums.v1.EventType;
const TimeoutType = temporal.api.enums.v1.TimeoutType;

/** Every collectPayment activity of a workflow (every run it has continued as new is not followed). */
export async function paymentActivities(client: Client, workflowId: string): Promise<PaymentActivity[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byScheduledId = new Map<number, PaymentActivity>();
  for (const event of history.events ?? []) {
    const at = msOf(event.eventTime);
    if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const attributes = event.activityTaskScheduledEventAttributes!;
      if (attributes.activityType?.name !== 'collectPayment') continue;
      const input = defaultPayloadConverter.fromPayload<CollectPaymentInput>(attributes.input!.payloads![0]!);
      byScheduledId.set(Number(event.eventId), {
        number: input.number,
        scheduledMs: at,
        startedMs: null,
        completedMs: null,
        attempt: 1,
        identity: null,
        previousAttemptEnded: null,
      });
    } else if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const attributes = event.activityTaskStartedEventAttributes!;
      const activity = byScheduledId.get(Number(attributes.scheduledEventId));
      if (!activity) continue;
      activity.startedMs = at;
      activity.attempt = attributes.attempt ?? 1;
      activity.identity = attributes.identity ?? null;
      activity.previousAttemptEnded = endOf(attributes.lastFailure);
    } else if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const activity = byScheduledId.get(Number(event.activityTaskCompletedEventAttributes!.scheduledEventId));
      if (activity) activity.completedMs = at;
    }
  }
  return [...byScheduledId.values()];
}

function endOf(failure: temporal.api.failure.v1.IFailure | null | undefined): PaymentActivity['previousAttemptEnded'] {
  if (!failure) return null;
  const timeout = failure.timeoutFailureInfo?.timeoutType;
  if (timeout === TimeoutType.TIMEOUT_TYPE_HEARTBEAT) return 'HEARTBEAT_TIMEOUT';
  if (timeout === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE) return 'START_TO_CLOSE_TIMEOUT';
  return 'FAILED';
}
