import type { AuditEntry } from '../audit/index.ts';
import type { Store, StoreRow } from '../store/index.ts';

/** The store row for an audit entry: its event, its seq, and the event JSON the log already wrote. */
export function storeRowOf(e: AuditEntry): StoreRow {
  return { event: e.event, auditSeq: e.seq, ...(e.eventJson ? { line: e.eventJson } : {}) };
}

const BATCH = 2000;

/**
 * Inserts audit entries into the store in batches (crash recovery, reindex). Idempotent: entries already
 * stored are skipped by id. Returns how many were new; `onBatch` hears the running total.
 */
export async function copyAuditToStore(
  store: Store,
  entries: AsyncIterable<AuditEntry>,
  onBatch?: (inserted: number) => void,
): Promise<number> {
  let rows: StoreRow[] = [];
  let inserted = 0;
  for await (const entry of entries) {
    rows.push(storeRowOf(entry));
    if (rows.length === BATCH) {
      inserted += store.insertBatch(rows).inserted;
      rows = [];
      onBatch?.(inserted);
    }
  }
  if (rows.length > 0) inserted += store.insertBatch(rows).inserted;
  return inserted;
}
