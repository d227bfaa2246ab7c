import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes ops filter advances by in the Temporal Web UI, e.g.
 * `AdvanceStatus = "OVERDUE"` or `AdvanceAccountId = "<uuid>"`. They are
 * registered on the server by `npm start` (dev server) and by compose's
 * temporal-setup service.
 */
export const ADVANCE_ACCOUNT_ID = defineSearchAttributeKey('AdvanceAccountId', SearchAttributeType.KEYWORD);
export const ADVANCE_STATUS = defineSearchAttributeKey('AdvanceStatus', SearchAttributeType.KEYWORD);
