/**
 * Isolation Forest (Liu, Ting and Zhou, 2008): random trees that split on a random feature at a random
 * value between that feature's minimum and maximum in the node's sample. Points that are few and different
 * are isolated near the root; the anomaly score of x is 2^(-E[h(x)] / c(n)), where h is the path length
 * (plus c(size) for the points left in a leaf) and c(n) the mean path length of an unsuccessful search in
 * a binary search tree of n points. Scores near 1 are anomalies, around 0.5 or below are ordinary.
 *
 * Seeded (mulberry32) and therefore reproducible: the same data, options and seed give the same trees.
 * Trees are stored flat (one array per node field) so they serialize to JSON and score without allocation.
 */

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EULER = 0.5772156649015329;

/** Mean path length of an unsuccessful search in a BST of n points: c(n) = 2 H(n-1) - 2 (n-1) / n. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER) - (2 * (n - 1)) / n;
}

export interface ForestOptions {
  /** Number of trees (default 100). */
  trees?: number;
  /** Points drawn (without replacement) per tree (default 256, or all when fewer). */
  sampleSize?: number;
  /** Seed of the PRNG (default 1). */
  seed?: number;
}

/**
 * One tree, flat. Node i is a leaf when feature[i] < 0; then size[i] is how many sample points reached it.
 * Otherwise x[feature[i]] < threshold[i] goes to left[i], else to right[i].
 */
export interface Tree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  size: number[];
}

export interface ForestJson {
  trees: Tree[];
  sampleSize: number;
  maxDepth: number;
  dims: number;
  seed: number;
}

export class IsolationForest {
  private constructor(
    readonly trees: Tree[],
    readonly sampleSize: number,
    readonly maxDepth: number,
    readonly dims: number,
    readonly seed: number,
  ) {}

  /** Grows the forest on rows of equal length. */
  static fit(rows: readonly (readonly number[])[], opts: ForestOptions = {}): IsolationForest {
    if (rows.length === 0) throw new Error('an isolation forest needs at least one row');
    const dims = (rows[0] as readonly number[]).length;
    for (const r of rows) if (r.length !== dims) throw new Error('rows differ in length');
    const seed = opts.seed ?? 1;
    const rand = mulberry32(seed);
    const nTrees = Math.max(1, Math.floor(opts.trees ?? 100));
    const psi = Math.max(2, Math.min(rows.length, Math.floor(opts.sampleSize ?? 256)));
    const sampleSize = Math.min(psi, rows.length);
    // Height limit of the paper: ceil(log2(psi)), the mean depth of a balanced tree.
    const maxDepth = Math.max(1, Math.ceil(Math.log2(Math.max(2, sampleSize))));
    const trees: Tree[] = [];
    const index = Array.from(rows.keys());
    for (let t = 0; t < nTrees; t++) {
      // Partial Fisher-Yates: the first sampleSize entries are a sample without replacement.
      for (let i = 0; i < sampleSize; i++) {
        const j = i + Math.floor(rand() * (index.length - i));
        const tmp = index[i] as number;
        index[i] = index[j] as number;
        index[j] = tmp;
      }
      const sample = index.slice(0, sampleSize);
      trees.push(growTree(rows, sample, maxDepth, dims, rand));
    }
    return new IsolationForest(trees, sampleSize, maxDepth, dims, seed);
  }

  static fromJSON(j: ForestJson): IsolationForest {
    return new IsolationForest(j.trees, j.sampleSize, j.maxDepth, j.dims, j.seed);
  }

  toJSON(): ForestJson {
    return {
      trees: this.trees,
      sampleSize: this.sampleSize,
      maxDepth: this.maxDepth,
      dims: this.dims,
      seed: this.seed,
    };
  }

  /** Path length of x in one tree, with c(size) added at the leaf. */
  pathLength(tree: Tree, x: readonly number[]): number {
    let node = 0;
    let depth = 0;
    for (;;) {
      const f = tree.feature[node] as number;
      if (f < 0) return depth + averagePathLength(tree.size[node] as number);
      node =
        (x[f] as number) < (tree.threshold[node] as number)
          ? (tree.left[node] as number)
          : (tree.right[node] as number);
      depth++;
    }
  }

  /** Anomaly score in (0, 1]: 2^(-mean path length / c(sampleSize)). */
  score(x: readonly number[]): number {
    if (x.length !== this.dims) throw new Error(`expected ${this.dims} values, got ${x.length}`);
    let sum = 0;
    for (const t of this.trees) sum += this.pathLength(t, x);
    const mean = sum / this.trees.length;
    const c = averagePathLength(this.sampleSize);
    return c === 0 ? 0.5 : 2 ** (-mean / c);
  }

  /** Depth of the deepest node of every tree (never more than maxDepth). */
  depth(): number {
    let max = 0;
    for (const t of this.trees) {
      const d = new Array<number>(t.feature.length).fill(0);
      for (let i = 0; i < t.feature.length; i++) {
        if ((t.feature[i] as number) < 0) continue;
        d[t.left[i] as number] = (d[i] as number) + 1;
        d[t.right[i] as number] = (d[i] as number) + 1;
      }
      for (const v of d) if (v > max) max = v;
    }
    return max;
  }
}

function growTree(
  rows: readonly (readonly number[])[],
  sample: number[],
  maxDepth: number,
  dims: number,
  rand: () => number,
): Tree {
  const tree: Tree = { feature: [], threshold: [], left: [], right: [], size: [] };
  const lo = new Array<number>(dims);
  const hi = new Array<number>(dims);
  const candidates: number[] = [];
  // Explicit stack of (node, members, depth); nodes are created before their children are grown.
  const newNode = () => {
    tree.feature.push(-1);
    tree.threshold.push(0);
    tree.left.push(-1);
    tree.right.push(-1);
    tree.size.push(0);
    return tree.feature.length - 1;
  };
  const stack: { node: number; members: number[]; depth: number }[] = [
    { node: newNode(), members: sample, depth: 0 },
  ];
  while (stack.length > 0) {
    const { node, members, depth } = stack.pop() as { node: number; members: number[]; depth: number };
    tree.size[node] = members.length;
    if (depth >= maxDepth || members.length <= 1) continue;
    lo.fill(Number.POSITIVE_INFINITY);
    hi.fill(Number.NEGATIVE_INFINITY);
    for (const m of members) {
      const r = rows[m] as readonly number[];
      for (let f = 0; f < dims; f++) {
        const v = r[f] as number;
        if (v < (lo[f] as number)) lo[f] = v;
        if (v > (hi[f] as number)) hi[f] = v;
      }
    }
    // Only features that vary in this node can split it; when none does, the node is a leaf.
    candidates.length = 0;
    for (let f = 0; f < dims; f++) if ((hi[f] as number) > (lo[f] as number)) candidates.push(f);
    if (candidates.length === 0) continue;
    const f = candidates[Math.floor(rand() * candidates.length)] as number;
    const a = lo[f] as number;
    const b = hi[f] as number;
    let split = a + rand() * (b - a);
    if (split <= a) split = b; // keep both sides non-empty: x < split goes left
    const left: number[] = [];
    const right: number[] = [];
    for (const m of members)
      ((rows[m] as readonly number[])[f] as number) < split ? left.push(m) : right.push(m);
    tree.feature[node] = f;
    tree.threshold[node] = split;
    const l = newNode();
    const r = newNode();
    tree.left[node] = l;
    tree.right[node] = r;
    stack.push({ node: l, members: left, depth: depth + 1 }, { node: r, members: right, depth: depth + 1 });
  }
  return tree;
}
