/**
 * ShuffleNetV2's channel moves as PyTorch exports them, recognised so its channels stay prunable:
 *  - the chunk `x.chunk(2, dim=1)`: two Slices on the channel axis whose bounds are computed at run time from
 *    Shape (so they follow a pruned width): the first or second half of the channels;
 *  - the channel shuffle `view(N, g, C/g, H, W) → transpose(1, 2) → view(N, C, H, W)`: Reshape to 5-D,
 *    Transpose perm [0, 2, 1, 3, 4], Reshape back, both shapes computed at run time.
 * Pruning keeps them valid only if the halves stay equal and the shuffle's g blocks stay aligned, so
 * graph/coupling.ts unites channel i with channel i + C/2 across a chunk, and channel k·C/g + i for every k
 * across a shuffle: removing one removes its partners (ShuffleNet prunes in pairs or quadruples).
 * Shapes (graph/onnx-ops.ts) then follow the input width instead of the file's static shapes.
 */
import type { LayerNode, ModelGraph } from './ir';
import type { OnnxOpConfig } from './onnx-ops';

export type ChannelMove =
  | { kind: 'half'; half: 0 | 1 }
  | { kind: 'shuffleSplit'; groups: number }
  | { kind: 'shuffleSwap'; groups: number }
  | { kind: 'shuffleMerge' };

const cfg = (l: LayerNode | undefined): OnnxOpConfig | undefined =>
  l?.className.startsWith('ONNX:') ? (l.config.onnx as OnnxOpConfig | undefined) : undefined;
const perm = (o: OnnxOpConfig): string =>
  o.attribute
    .find((a) => a.name === 'perm')
    ?.ints?.map(Number)
    .join() ?? '';

/** Marks every recognised chunk half and shuffle in `graph` (config.onnx.move), in place. */
export function markChannelMoves(graph: ModelGraph): void {
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const consumers = new Map<string, LayerNode[]>();
  for (const l of graph.layers)
    for (const node of l.inboundNodes)
      for (const r of node) consumers.set(r.layer, [...(consumers.get(r.layer) ?? []), l]);
  const only = (l: LayerNode): LayerNode | undefined => {
    const c = consumers.get(l.name) ?? [];
    return c.length === 1 && !graph.outputs.some((r) => r.layer === l.name) ? c[0] : undefined;
  };
  // Shape and bounds inputs computed at run time (values, not constants in the file).
  const runtime = (o: OnnxOpConfig, idx: number[]): boolean => idx.every((i) => o.inputs[i] === 'value');
  for (const l of graph.layers) {
    const o = cfg(l);
    if (!o || !o.cf || !o.file_shape) continue;
    if (o.op_type === 'Slice' && o.slice_channels) {
      // A bound stays right after pruning if computed at run time, or a constant start 0 / end at or past C.
      const [start, end, c] = o.slice_channels;
      const endOk = runtime(o, [2]) || end === c;
      if (c % 2 === 0 && end - start === c / 2 && endOk && (start === 0 || runtime(o, [1])))
        o.move = { kind: 'half', half: start === 0 ? 0 : 1 };
      continue;
    }
    if (o.op_type !== 'Reshape' || o.file_shape.length !== 5 || !runtime(o, [1])) continue;
    const t = only(l);
    const to = cfg(t);
    const r = t && only(t);
    const ro = cfg(r);
    if (
      !to ||
      to.op_type !== 'Transpose' ||
      perm(to) !== '0,2,1,3,4' ||
      !ro ||
      ro.op_type !== 'Reshape' ||
      !runtime(ro, [1])
    )
      continue;
    const [, g, cg, h, w] = o.file_shape;
    const f = ro.file_shape;
    if (g === null || cg === null || !f || f.length !== 4 || f[1] !== g * cg || f[2] !== h || f[3] !== w) continue;
    if (!byName.has(l.inboundNodes[0]?.[0]?.layer ?? '')) continue;
    o.move = { kind: 'shuffleSplit', groups: g };
    to.move = { kind: 'shuffleSwap', groups: g };
    ro.move = { kind: 'shuffleMerge' };
  }
}
