/**
 * Prices per model, in US dollars per million tokens, and the cost of a usage sum.
 *
 * The built-in table holds Anthropic's public list prices by model family; `pricing:` in config.yaml adds
 * or overrides entries (a contract price, a new model). A model is priced by the entry of the same name,
 * else by the longest entry its name starts with, else by its family (opus, sonnet, haiku); anything else
 * has no price and its cost is reported as unknown rather than zero.
 */

export interface ModelPrice {
  input: number;
  output: number;
  /** Cache writes with the default 5 minute lifetime. */
  cacheWrite: number;
  /** Cache writes with a 1 hour lifetime. */
  cacheWrite1h: number;
  cacheRead: number;
}

/** A price entry as configured: input and output are required, cache prices follow from input by default. */
export interface PriceEntry {
  input: number;
  output: number;
  cacheWrite?: number;
  cacheWrite1h?: number;
  cacheRead?: number;
}

export type PriceTable = Record<string, PriceEntry>;

/** Fills the cache prices the usual way: writes 1.25x (5 min) and 2x (1 h) input, reads 0.1x input. */
export function fullPrice(e: PriceEntry): ModelPrice {
  return {
    input: e.input,
    output: e.output,
    cacheWrite: e.cacheWrite ?? e.input * 1.25,
    cacheWrite1h: e.cacheWrite1h ?? e.input * 2,
    cacheRead: e.cacheRead ?? e.input * 0.1,
  };
}

/** List prices (USD per million tokens) by model name prefix. */
export const DEFAULT_PRICES: PriceTable = {
  'claude-opus-4-0': { input: 15, output: 75 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-opus-4-2025': { input: 15, output: 75 },
  'claude-3-opus': { input: 15, output: 75 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-3-5-sonnet': { input: 3, output: 15 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
};

/** Family fallbacks: the current generation's list price. */
const FAMILIES: [string, PriceEntry][] = [
  ['opus', { input: 5, output: 25 }],
  ['sonnet', { input: 3, output: 15 }],
  ['haiku', { input: 1, output: 5 }],
];

/** Models that cost nothing (Claude Code writes `<synthetic>` for messages it makes up locally). */
const FREE = new Set(['<synthetic>']);

/** The model name without a context-size suffix such as `[1m]`. */
export function baseModel(model: string): string {
  return model.replace(/\[[^\]]*\]$/, '');
}

export class Pricing {
  private readonly table: [string, ModelPrice][];
  private readonly memo = new Map<string, ModelPrice | undefined>();

  /** `custom` entries (config.yaml) take precedence over the built-in ones. */
  constructor(custom: PriceTable = {}) {
    const merged: PriceTable = { ...DEFAULT_PRICES, ...custom };
    this.table = Object.entries(merged).map(([k, v]) => [k, fullPrice(v)]);
  }

  /** The price of a model, or undefined when nothing matches. */
  priceOf(model: string): ModelPrice | undefined {
    if (this.memo.has(model)) return this.memo.get(model);
    const name = baseModel(model);
    let found: ModelPrice | undefined;
    if (FREE.has(name)) found = { input: 0, output: 0, cacheWrite: 0, cacheWrite1h: 0, cacheRead: 0 };
    else {
      let best = -1;
      for (const [k, p] of this.table) {
        if ((name === k || name.startsWith(k)) && k.length > best) {
          best = k.length;
          found = p;
        }
      }
      if (found === undefined) {
        const fam = FAMILIES.find(([f]) => name.includes(f));
        if (fam) found = fullPrice(fam[1]);
      }
    }
    this.memo.set(model, found);
    return found;
  }

  /** Cost in USD of token counts for one model, or undefined when the model has no price. */
  cost(model: string, t: TokenCounts): number | undefined {
    const p = this.priceOf(model);
    if (p === undefined) return undefined;
    const cc1h = Math.min(t.cacheCreation1h, t.cacheCreation);
    return (
      (t.input * p.input +
        t.output * p.output +
        (t.cacheCreation - cc1h) * p.cacheWrite +
        cc1h * p.cacheWrite1h +
        t.cacheRead * p.cacheRead) /
      1e6
    );
  }
}

export interface TokenCounts {
  input: number;
  output: number;
  cacheCreation: number;
  cacheCreation1h: number;
  cacheRead: number;
}
