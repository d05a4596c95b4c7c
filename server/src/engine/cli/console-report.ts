/**
 * Terminal tables (cli-table3), in the spirit of Keras' `model.summary()`.
 */
import Table from 'cli-table3';
import type { InspectReport } from '../inspect';
import { flopsLabel } from '../measure/cost';

/** Counts in terminal output: the format every surface shares. */
import { compactNumber } from '../../../../protocol/src/format';
export const formatNumber = compactNumber;

export function formatInspectTable(report: InspectReport): string {
  const table = new Table({
    head: ['Layer (type)', 'Channels', 'Params', 'FLOPs (MACs)', 'Prunable'],
    style: { head: [], border: [] },
    // No rule between rows, as in Keras' model.summary().
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    wordWrap: true,
    colWidths: [38, 10, 11, 14, 50],
  });
  for (const l of report.layers) {
    const prunable = l.prunable
      ? `yes (group ${l.group})`
      : l.group !== undefined
        ? `no: ${l.reason}`
        : `— ${l.reason ?? ''}`;
    table.push([
      `${l.name} (${l.type})`,
      l.outputChannels ?? '?',
      formatNumber(l.params),
      l.flopsKnown === false ? '?' : formatNumber(l.flops),
      prunable,
    ]);
  }
  const prunableGroups = report.groups.filter((g) => g.prunable).length;
  return [
    `Model: ${report.model}`,
    table.toString(),
    `Total params: ${report.totals.params.toLocaleString('en-US')}`,
    `Total FLOPs: ${flopsLabel(report.totals, (n) => n.toLocaleString('en-US'))} multiply-accumulates`,
    `Coupled groups: ${report.groups.length} (${prunableGroups} prunable)`,
  ].join('\n');
}
