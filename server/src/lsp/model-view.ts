/**
 * The model view's data (the `prunelens/modelView` request): every layer in graph order with its channels,
 * parameters, FLOPs, prunable verdict or the reason not, and coupled group — what the engine's inspect knows —
 * joined with what the analysis decided for each group (filters kept, excluded, note). Read from the server's
 * state, never recomputed here; a model not yet checked is checked first.
 */
import * as path from 'node:path';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { ModelViewLayer, ModelViewResult } from '../../../protocol/src/protocol';
import { excludeInsertion } from './config-exclude-edit';
import type { PruneLensServer } from './prunelens-server';

export async function modelView(server: PruneLensServer, file: string): Promise<ModelViewResult> {
  const st = server.models.get(file) ?? (await server.checkModel(file));
  const uri = server.uriFor(file);
  const error = st.error ?? st.syntaxError?.message;
  if (error || !st.structure) {
    return {
      uri,
      model: file,
      error: error ?? 'not a model PruneLens reads',
      analysis: server.analysisLine(st),
      analysed: false,
      layers: [],
    };
  }
  const byGroup = new Map((st.summary?.layers ?? []).map((v) => [v.group, v]));
  const config = server.configsNaming(file)[0];
  const configDoc = config && TextDocument.create(server.uriFor(config.path), 'yaml', 0, config.doc.text);
  const excludeEdit = (layer: string): ModelViewLayer['exclude'] | undefined => {
    const ins = config && configDoc ? excludeInsertion(config.doc, layer) : null;
    return ins && configDoc
      ? {
          uri: configDoc.uri,
          position: configDoc.positionAt(ins.offset),
          newText: ins.text,
          config: path.basename(config!.path),
        }
      : undefined;
  };
  const layers: ModelViewLayer[] = st.structure.layers.map((l) => {
    const v = l.group === undefined ? undefined : byGroup.get(l.group);
    const exclude = l.prunable ? excludeEdit(l.name) : undefined;
    return {
      name: l.name,
      type: l.type,
      channels: l.outputChannels,
      params: l.params,
      flops: l.flops,
      ...(l.flopsKnown === false ? { flopsKnown: false as const } : {}),
      prunable: l.prunable,
      ...(l.reason ? { reason: l.reason } : {}),
      ...(l.group !== undefined ? { group: l.group } : {}),
      ...(v ? { kept: v.kept } : {}),
      ...(v?.excluded ? { excluded: true } : {}),
      ...(v?.note ? { note: v.note } : {}),
      ...(exclude ? { exclude } : {}),
    };
  });
  return {
    uri,
    model: st.structure.model,
    analysis: server.analysisLine(st),
    analysed: Boolean(st.summary && st.plan),
    totals: {
      params: st.structure.totals.params,
      flops: st.structure.totals.flops,
      ...(st.structure.totals.unknownLayers?.length ? { unknownLayers: st.structure.totals.unknownLayers } : {}),
    },
    layers,
  };
}
