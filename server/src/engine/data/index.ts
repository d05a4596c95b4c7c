/**
 * `openDataset(path)`: asks every reader whether the folder is its format (cheap checks, null when not),
 * in an order where the more specific layouts come first, and opens the first that says yes.
 */
import { camvid } from './camvid';
import { cifar10 } from './cifar10';
import { DatasetError } from './errors';
import { isDir } from './fs-util';
import { imageMaskFolders } from './image-mask-folders';
import { mnistIdx } from './mnist-idx';
import { pascalVoc } from './pascal-voc';
import type { Dataset, DatasetReader, ReadOptions } from './types';

export const READERS: readonly DatasetReader[] = [pascalVoc, camvid, imageMaskFolders, cifar10, mnistIdx];

export async function openDataset(path: string, options: ReadOptions = {}): Promise<Dataset> {
  if (!(await isDir(path))) throw new DatasetError('is not a folder (a dataset is opened from its folder)', path);
  for (const reader of READERS) {
    const ds = await reader.open(path, options);
    if (ds !== null) return ds;
  }
  const tried = READERS.map((r) => `${r.format} (${r.expects})`).join('; ');
  throw new DatasetError(`is not a dataset folder in any known format; tried ${tried}`, path);
}

export { DatasetError } from './errors';
export type { Batch, Dataset, DatasetInfo, DatasetReader, ReadOptions, Sample, TaskKind } from './types';
