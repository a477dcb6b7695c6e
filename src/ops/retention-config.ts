/**
 * The `retention:` section of config.yaml: per kind of data, a maximum age and a maximum size; a limit that
 * is left out or null means "keep". The audit log is never deleted: over its limits, whole signed day files
 * are moved into compressed archives (see src/audit/archive.ts).
 *
 *   retention:
 *     events:     { max_age_days: 90, max_size_mb: 2048 }   # rows in the store (session summaries stay)
 *     audit:      { max_age_days: 30 }                      # day files archived under audit/archive/
 *     quarantine: { max_age_days: 30, max_size_mb: 100 }
 *     logs:       { max_age_days: 30, max_size_mb: 50 }      # collector.log rotated, old rotations removed
 */

import { z } from 'zod';

export interface RetentionLimit {
  maxAgeDays: number | null;
  maxSizeMb: number | null;
}

export const RETENTION_KINDS = ['events', 'audit', 'quarantine', 'logs'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

export type RetentionConfig = Record<RetentionKind, RetentionLimit>;

export const DEFAULT_RETENTION: RetentionConfig = {
  events: { maxAgeDays: null, maxSizeMb: null },
  audit: { maxAgeDays: null, maxSizeMb: null },
  quarantine: { maxAgeDays: 30, maxSizeMb: 100 },
  logs: { maxAgeDays: 30, maxSizeMb: 50 },
};

const limit = (kind: RetentionKind) => {
  const d = DEFAULT_RETENTION[kind];
  return z
    .strictObject({
      max_age_days: z.number().positive().nullable().optional(),
      max_size_mb: z.number().positive().nullable().optional(),
    })
    .optional()
    .transform(
      (v): RetentionLimit => ({
        maxAgeDays: v?.max_age_days === undefined ? d.maxAgeDays : v.max_age_days,
        maxSizeMb: v?.max_size_mb === undefined ? d.maxSizeMb : v.max_size_mb,
      }),
    );
};

/** The `retention:` section as written in config.yaml (snake_case), read into a RetentionConfig with defaults. */
export const retentionSchema = z
  .strictObject({
    events: limit('events'),
    audit: limit('audit'),
    quarantine: limit('quarantine'),
    logs: limit('logs'),
  })
  .nullable()
  .optional()
  .transform(
    (v): RetentionConfig =>
      v ?? {
        events: { ...DEFAULT_RETENTION.events },
        audit: { ...DEFAULT_RETENTION.audit },
        quarantine: { ...DEFAULT_RETENTION.quarantine },
        logs: { ...DEFAULT_RETENTION.logs },
      },
  );
