/**
 * Where an output may go. A target is accepted only when writing it cannot destroy anything:
 *
 * - it is not an input (the model file, its folder, a plan, a config, a data folder) and holds no input;
 * - it is not the current folder or one above it, nor the file-system root;
 * - it is not a symbolic link (every check runs on real paths, so a link to an input is seen as the input);
 * - it does not exist, or is an empty folder, or is an output PruneLens wrote before and that still holds
 *   nothing else (proved by the marker, see marker.ts).
 *
 * `inspectTarget` answers what is there and throws an `OutputError` (one line) for every refused case.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { OutputError } from '../util/errors';
import { foreignContent, readFileMarker, readFolderMarker } from './marker';

export type OutputKind = 'folder' | 'file';

export interface TargetRules {
  /** Paths the command reads. The target may be none of them, nor a folder that holds one. */
  inputs: readonly string[];
  /** How the target is named in messages (e.g. `--out pruned`); default: the path itself. */
  label?: string;
  /** The working folder (default process.cwd()); it and its ancestors are never replaced. */
  cwd?: string;
}

export type TargetState =
  /** Nothing there: the output is created. */
  | 'new'
  /** An empty folder: replaced by the output folder (nothing is lost). */
  | 'empty'
  /** A previous PruneLens output with nothing foreign in it: replaced whole once the new one is verified. */
  | 'previous';

export interface InspectedTarget {
  /** Absolute real path the output will have (links in the parent folders resolved). */
  real: string;
  state: TargetState;
}

/** The real path of `p`, resolving links in the part that exists and appending the part that does not. */
export async function realPathOf(p: string): Promise<string> {
  const abs = path.resolve(p);
  const tail: string[] = [];
  for (let cur = abs; ; cur = path.dirname(cur)) {
    try {
      const real = await fs.realpath(cur);
      return path.join(real, ...tail.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: not there yet; ENOTDIR: a file where a folder is expected (reported when writing).
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(cur) === cur) return abs;
      tail.push(path.basename(cur));
    }
  }
}

/** `a` equals `b` or is a folder above it (both absolute, normalised). */
export function isSameOrAncestor(a: string, b: string): boolean {
  if (a === b) return true;
  const rel = path.relative(a, b);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The paths a model input protects: the file PruneLens reads and the folder that holds it. */
export function modelInputPaths(modelPath: string): string[] {
  const abs = path.resolve(modelPath);
  const isFolder = !/\.[a-z0-9]+$/i.test(abs);
  const file = isFolder ? path.join(abs, 'model.json') : abs;
  return [file, path.dirname(file)];
}

/** A data spec's protected path: a local folder or file (bundled and generated sets have none). */
export function dataInputPaths(spec: string | undefined): string[] {
  if (!spec || /^[a-z][a-z0-9+-]*:/i.test(spec)) return [];
  return [path.resolve(spec)];
}

export async function inspectTarget(target: string, kind: OutputKind, rules: TargetRules): Promise<InspectedTarget> {
  const real = await realPathOf(target);
  // A target reached through a link is named with where it really is, so the refusal makes sense.
  const label = `${rules.label ?? target}${real !== path.resolve(target) ? ` (real path ${real})` : ''}`;
  const refuse = (why: string): never => {
    throw new OutputError(`${label}: ${why}`);
  };
  if (path.dirname(real) === real) refuse('is the root of the file system; name a new folder for the output');
  for (const input of rules.inputs) {
    const realInput = await realPathOf(input);
    if (isSameOrAncestor(real, realInput)) {
      const what = real === realInput ? 'is' : 'contains';
      refuse(
        `${what} the input ${realInput === path.resolve(input) ? input : `${input} (real path ${realInput})`}; PruneLens never writes over its inputs — choose a new ${kind}`,
      );
    }
  }
  const cwd = await realPathOf(rules.cwd ?? process.cwd());
  if (isSameOrAncestor(real, cwd))
    refuse(`is the current folder${real === cwd ? '' : ' or above it'}; name a new ${kind} for the output`);

  let st;
  try {
    st = await fs.lstat(path.resolve(target));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { real, state: 'new' };
    return refuse(`cannot be checked (${code ?? (err as Error).message})`);
  }
  if (st.isSymbolicLink())
    refuse(`is a symbolic link (to ${real}); PruneLens does not write through links — name a new ${kind}`);
  if (kind === 'folder') {
    if (!st.isDirectory()) refuse('exists and is not a folder; PruneLens never replaces it — choose a new folder');
    const entries = await fs.readdir(real);
    if (entries.length === 0) return { real, state: 'empty' };
    const marker = await readFolderMarker(real);
    if (!marker)
      refuse(
        `already exists and was not written by PruneLens (it holds ${quoteSome(entries)}); choose a new folder or remove it yourself`,
      );
    const foreign = await foreignContent(real, marker!);
    if (foreign)
      refuse(
        `is an earlier PruneLens output but now also holds '${foreign}', which PruneLens did not write; choose a new folder or remove it yourself`,
      );
    return { real, state: 'previous' };
  }
  if (!st.isFile()) refuse(`exists and is not a regular file; PruneLens never replaces it — choose a new file name`);
  const marker = await readFileMarker(real);
  if (!marker) refuse('already exists and was not written by PruneLens; choose a new file name or remove it yourself');
  const foreign = await foreignContent(path.dirname(real), marker!, [path.basename(real)]);
  if (foreign) refuse('was written by PruneLens but has changed since; choose a new file name or remove it yourself');
  return { real, state: 'previous' };
}

function quoteSome(names: string[]): string {
  const shown = names
    .slice(0, 3)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
