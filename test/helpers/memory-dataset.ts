import type { Dataset, DatasetInfo, Sample } from '../../server/src/engine/data/types';

/** A dataset held in memory, for tests that need exact control of every pixel. */
export function memoryDataset(
  samples: Sample[],
  info: Partial<DatasetInfo> & Pick<DatasetInfo, 'height' | 'width' | 'channels' | 'numClasses' | 'task'>,
): Dataset {
  const full: DatasetInfo = {
    name: 'memory',
    classNames: Array.from({ length: info.numClasses }, (_, i) => `c${i}`),
    synthetic: true,
    ...info,
  };
  return { info: full, size: samples.length, get: async (i) => samples[i] };
}
