export { minuteOf, ROLLUP_COLUMNS, ROLLUP_PRESENCE, type RollupColumn } from './rollup.ts';
export { META_AUDIT_SEQ, migrate, SCHEMA_VERSION, StoreSchemaError, schemaVersion } from './schema.ts';
export {
  DEFAULT_QUERY_LIMIT,
  DEFAULT_SESSIONS_LIMIT,
  type EventRowValues,
  eventTime,
  type ForeignLabelName,
  type InsertResult,
  type ProjectSummary,
  type QueryFilter,
  rowValuesOf,
  type SessionFilter,
  type SessionSummary,
  Store,
  type StoreOptions,
  type StoreRow,
  type StoreStats,
} from './store.ts';
