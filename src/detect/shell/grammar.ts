/**
 * The bash grammar (tree-sitter-bash compiled to wasm) loaded once per process. Loading is async (the
 * wasm runtime instantiates asynchronously); callers await `loadBashParser()` once and then parse
 * synchronously. V8 compiles wasm with its baseline compiler first and recompiles hot code in the
 * background; for a grammar that parses short strings the background recompile costs more than it
 * gains (0.5-1.4 s of CPU at startup), so only the baseline tier is used.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { Node as SyntaxNode, Parser as TsParser } from 'web-tree-sitter';

export type { SyntaxNode };

export interface BashParser {
  /** Parses a command; the caller must call `dispose()` on the result when done with its nodes. */
  parse(source: string): { root: SyntaxNode; dispose(): void } | null;
}

let loading: Promise<BashParser> | undefined;
let loaded: BashParser | undefined;
let failure: Error | undefined;

/** The parser once loaded, else undefined (never waits). */
export function bashParserIfReady(): BashParser | undefined {
  return loaded;
}

/** Why loading failed, when it did. */
export function bashParserFailure(): Error | undefined {
  return failure;
}

/** Loads web-tree-sitter and the bash grammar once; later calls return the same promise. */
export function loadBashParser(): Promise<BashParser> {
  loading ??= load().then(
    (p) => {
      loaded = p;
      return p;
    },
    (err: unknown) => {
      failure = err instanceof Error ? err : new Error(String(err));
      throw failure;
    },
  );
  return loading;
}

async function load(): Promise<BashParser> {
  setFlagsFromString('--liftoff-only');
  const require = createRequire(import.meta.url);
  const { Parser, Language } = await import('web-tree-sitter');
  await Parser.init();
  const language = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
  const parser: TsParser = new Parser();
  parser.setLanguage(language);
  return {
    parse(source) {
      const tree = parser.parse(source);
      if (tree === null) return null;
      return { root: tree.rootNode, dispose: () => tree.delete() };
    },
  };
}
