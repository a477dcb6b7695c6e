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
