export { CanonicalJsonError, canonicalJson } from './canonical.ts';
export {
  CHECKPOINT_FILE,
  type CheckpointRecord,
  checkpointBodyText,
  parseCheckpointBody,
} from './checkpoint.ts';
export {
  type AuditKeyPair,
  type AuditPublicKey,
  describePublicKey,
  loadOrCreateKeyPair,
  loadPublicKey,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
} from './keys.ts';
export {
  type AuditBatch,
  type AuditEntry,
  AuditIntegrityError,
  AuditLog,
  type AuditLogOptions,
  computeEntryHash,
  DEFAULT_CHECKPOINT_EVERY,
  GENESIS_HASH,
  listDayFiles,
  type Recovery,
  readEntries,
} from './log.ts';
export {
  type VerifyError,
  type VerifyErrorKind,
  type VerifyOptions,
  type VerifyResult,
  verifyAudit,
} from './verify.ts';
