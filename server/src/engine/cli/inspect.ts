import { readModel } from '../formats';
import { inspectGraph } from '../inspect';
import { formatInspectTable } from './console-report';
import { out } from './common';

export async function inspectCommand(model: string, opts: { json?: boolean }): Promise<void> {
  const { graph } = await readModel(model);
  const report = inspectGraph(graph);
  out(opts.json ? JSON.stringify(report, null, 2) : formatInspectTable(report));
}
