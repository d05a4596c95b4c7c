/**
 * Where PruneLens puts what it writes, named once for the language server (prune commands, quick-fix titles),
 * the pipeline (a config's default output) and the client (the launcher's run folders). Every one of these
 * is beside the model, never inside its folder and never the model itself.
 */
import * as path from 'node:path';

/** `<name>.pruned/`: the editor's prune commands write here (numbered `-2`, `-3`… when it is taken). */
export const PRUNED_SUFFIX = '.pruned';
/** `<model folder>.pruned-run/`: a config run's default output; the launcher numbers its runs `-1`, `-2`… */
export const RUN_SUFFIX = '.pruned-run';

/** `<dir>/unet/model.json` → `<dir>/unet.pruned`; `<dir>/x.model.json` or `<dir>/x.json` → `<dir>/x.pruned`. */
export function prunedFolderFor(modelPath: string): string {
  const dir = path.dirname(modelPath);
  const base = path.basename(modelPath);
  if (base.toLowerCase() === 'model.json') return path.join(path.dirname(dir), `${path.basename(dir)}${PRUNED_SUFFIX}`);
  return path.join(dir, `${base.replace(/(\.model)?\.json$/i, '')}${PRUNED_SUFFIX}`);
}

/** A config run's default output folder: beside the model's folder, named after it. */
export function runFolderFor(modelPath: string, configDir: string): string {
  return path.resolve(configDir, `${path.basename(path.dirname(modelPath))}${RUN_SUFFIX}`);
}

const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `x.pruned`, `x.pruned-2`, `x.pruned-run`, `x.pruned-run-3`: the names above, numbered or not. */
const OUTPUT_FOLDER = new RegExp(`(${escaped(PRUNED_SUFFIX)}|${escaped(RUN_SUFFIX)})(-\\d+)?$`);

/** A model PruneLens wrote (inside a `.pruned`/`.pruned-run` folder, numbered or not): never a source's model. */
export function isPrunedOutput(modelPath: string): boolean {
  return path
    .dirname(modelPath)
    .split(path.sep)
    .some((part) => OUTPUT_FOLDER.test(part));
}

/**
 * Why a config's `output` (absolute) would write over the model at `modelPath` (its model.json): the model's
 * own folder, or a folder that holds it (a run replaces its output folder whole). Undefined when it would not.
 */
export function outputOverModel(output: string, modelPath: string): string | undefined {
  const modelDir = path.dirname(path.resolve(modelPath));
  const out = path.resolve(output);
  if (out === modelDir) return "output is the model's own folder: PruneLens never writes over the original";
  const rel = path.relative(out, modelDir);
  if (!rel.startsWith('..') && !path.isAbsolute(rel))
    return "output holds the model's folder: PruneLens never writes over the original";
  return undefined;
}
