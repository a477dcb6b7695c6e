/** The LogQL engine's public surface. */
export * from './api.ts';
export type { Query } from './ast.ts';
export { type IndexStats, QueryEngine, type TailBatch, type TimeBounds } from './engine.ts';
export { LABEL_DEFS, SERVICE } from './labels.ts';
export { parseQuery } from './parser.ts';
export { type CompiledQuery, compile } from './plan.ts';
