import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A report configuration a server has run with, and until when servers with
 * it may issue new snapshot tokens (see src/db/report-horizon.sql.ts).
 */
export const ReportTokenIssuerSchema = defineEntity({
  name: 'ReportTokenIssuer',
  tableName: 'report_token_issuers',
  properties: {
    reachMs: p.bigint('bigint').primary().fieldName('reach_ms').check('reach_ms > 0'),
    ttlMs: p.bigint('bigint').primary().fieldName('ttl_ms').check('ttl_ms > 0'),
    issuingUntil: p.datetime().fieldName('issuing_until'),
  },
});
