/** Public surface of ingest: typing, scope, redaction, privacy reduction and normalization of hook events. */
export {
  EVENT_TYPES,
  eventTypeFor,
  HOOK_EVENT_TYPES,
  HOOK_EVENTS,
  type HookEventName,
  isMcpTool,
  MCP_TOOL_EVENT_TYPE,
  TOOL_EVENT_TYPES,
  TOOL_HOOK_EVENTS,
  TOOL_PAYLOAD_EVENTS,
  toolEventType,
  UNKNOWN_HOOK_EVENT_TYPE,
  UNKNOWN_TOOL_EVENT_TYPE,
} from './event-types.ts';
export {
  ERROR_CHARS,
  eventIdFor,
  type NormalizeContext,
  normalize,
  parsePayload,
  timeOrderedId,
} from './normalize.ts';
export {
  isSecretKey,
  MAX_FIELD_CHARS,
  type RedactResult,
  redactDeep,
  redactString,
  redactText,
  truncateField,
} from './redact.ts';
export {
  type CaptureMode,
  countLines,
  type Digest,
  digest,
  ERROR_KEEP_CHARS,
  LONG_TEXT_CHARS,
  type Reduced,
  reducePayload,
  reduceToolInput,
  reduceToolResponse,
  reduceValue,
} from './reduce.ts';
export {
  checkPaths,
  expandHome,
  globBase,
  isHarmlessDevice,
  isWithin,
  normalizePath,
  pathsInCommand,
  resolveProjectRoot,
  ScopeCache,
  type ScopeResult,
} from './scope.ts';
