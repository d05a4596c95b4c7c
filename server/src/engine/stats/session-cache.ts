/**
 * Statistics sessions kept between passes (issue 18). Building the statistics model and creating its
 * onnxruntime session, and the session's first run (arena allocation, weight pre-packing), cost 0.06 s on
 * the reference U-Net and about 0.8 s at the paper's width — paid again by every analysis of the same model
 * (another τ, another method, a re-run from the editor). A pass now borrows the session from here; it is built
 * once per model and set of requested outputs and stays warm for the next pass.
 *
 * A model is identified by its `ModelGraph` object and the identity of every weight array in it: surgery and
 * fine-tuning produce new graphs (`cloneGraph`) or new arrays, so a changed model never meets a stale session.
 * A checksum of all weight values is compared as well, against an in-place edit of an array that is kept.
 * Only the most recently used sessions are kept (`capacity`); an evicted one is released once no pass uses it.
 */
import type * as Ort from 'onnxruntime-node';
import type { ModelGraph } from '../graph/ir';

/** What a pass keeps: the session and whatever it needs to read the session's outputs. */
export interface Held {
  session: Ort.InferenceSession;
}

interface Entry<V extends Held> {
  graph: WeakRef<ModelGraph>;
  /** What the session computes beyond the model: observation points, outputs, label inputs, threads. */
  key: string;
  weights: Float32Array[];
  sums: Uint32Array;
  value: Promise<V>;
  users: number;
  evicted: boolean;
  released: boolean;
}

/**
 * A checksum of every weight value (FNV-1a over the float bits), to notice an in-place edit of an array that
 * is kept: ≈ 50 ms for the paper's 31 M parameters (measured under load), against seconds for the pass it guards.
 */
function checksums(weights: Float32Array[]): Uint32Array {
  return Uint32Array.from(weights, (w) => {
    const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
    let h = 0x811c9dc5;
    for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
    return h >>> 0;
  });
}

function weightArrays(graph: ModelGraph): Float32Array[] {
  return graph.layers.flatMap((l) => [...l.weights.values()].map((w) => w.data));
}

function sameModel(e: Entry<Held>, graph: ModelGraph, weights: Float32Array[], sums: () => Uint32Array): boolean {
  if (e.graph.deref() !== graph || e.weights.length !== weights.length) return false;
  if (e.weights.some((w, i) => w !== weights[i])) return false;
  return sums().every((v, i) => v === e.sums[i]);
}

export class StatsSessionCache<V extends Held> {
  private entries: Entry<V>[] = [];

  constructor(public capacity = 2) {}

  /**
   * Runs `use` with the cached session for (`graph`, `key`), creating it with `create` on a miss. The session
   * is never released while `use` runs, even if it is evicted meanwhile.
   */
  async with<T>(
    graph: ModelGraph,
    key: string,
    create: () => Promise<V>,
    use: (held: V, created: boolean) => Promise<T>,
  ): Promise<T> {
    const weights = weightArrays(graph);
    // Computed at most once per pass, and only when it is needed.
    let computed: Uint32Array | undefined;
    const sums = (): Uint32Array => (computed ??= checksums(weights));
    let entry = this.entries.find((e) => e.key === key && sameModel(e, graph, weights, sums));
    const created = !entry;
    if (entry) {
      this.entries = [entry, ...this.entries.filter((e) => e !== entry)];
    } else {
      entry = {
        graph: new WeakRef(graph),
        key,
        weights,
        sums: sums(),
        value: create(),
        users: 0,
        evicted: false,
        released: false,
      };
      this.entries.unshift(entry);
      for (const old of this.entries.splice(Math.max(this.capacity, 0))) this.evict(old);
    }
    entry.users++;
    try {
      const held = await entry.value;
      return await use(held, created);
    } catch (err) {
      // A session that failed to be created is not kept for the next pass to fail on.
      if (await entry.value.then(() => false).catch(() => true)) this.drop(entry);
      throw err;
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) await this.release(entry);
    }
  }

  /** Releases every session no pass is using, and the others as soon as their passes end. */
  async clear(): Promise<void> {
    const all = this.entries;
    this.entries = [];
    await Promise.all(all.map((e) => this.evict(e)));
  }

  /** Sessions held now (for tests and benchmarks). */
  get size(): number {
    return this.entries.length;
  }

  private drop(entry: Entry<V>): void {
    this.entries = this.entries.filter((e) => e !== entry);
    entry.evicted = true;
  }

  private async evict(entry: Entry<V>): Promise<void> {
    entry.evicted = true;
    if (entry.users === 0) await this.release(entry);
  }

  private async release(entry: Entry<V>): Promise<void> {
    if (entry.released) return;
    entry.released = true;
    const held = await entry.value.catch(() => null);
    await held?.session.release().catch(() => undefined);
  }
}
