/**
 * The one way PruneLens writes an output (a model folder, a run folder, scores/plan JSON, a report, a single
 * `.onnx` file): everything goes into a hidden temporary folder beside the target (same file system, so the
 * final rename is atomic), is verified there (JSON re-parsed, models re-read by PruneLens with the predicted
 * params/FLOPs and loaded by the runtime that will consume them), and only then renamed into place.
 *
 * A refused target, a failed check, a cancellation or any error leaves the target exactly as it was and no
 * temporary file behind. An earlier PruneLens output is moved aside, the new one renamed in, and the old one
 * deleted only after that succeeded (restored if it did not).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CancelledError, OutputError, OutputVerificationError, PruneLensError } from '../util/errors';
import { buildMarker, listFiles, MARKER_FILE, sidecarPath, writeMarkerFile } from './marker';
import { inspectTarget, type InspectedTarget, type OutputKind, type TargetRules } from './target';

/** A format writer that plugs into the output module (TF.js layers, ONNX; Keras from its own branch). */
export interface ModelOutput {
  /** What is written, for messages: 'TF.js layers model', 'ONNX model', … */
  describe: string;
  /** Folder formats write a folder at `dest`; single-file formats write the file `dest`. */
  layout: OutputKind;
  write(dest: string): Promise<void>;
  /**
   * Re-reads and loads what `write` produced at `dest`; throws (any error) when it does not hold up. Returns
   * notes worth telling the user (e.g. a runtime that could not be loaded on this machine).
   */
  verify(dest: string): Promise<string[]>;
}

export interface OutputOptions extends TargetRules {
  /** Recorded in the marker: which command wrote the output. */
  command: string;
  signal?: AbortSignal;
}

export interface WrittenOutput<T> {
  /** Absolute real path of the output. */
  path: string;
  /** An earlier PruneLens output was replaced. */
  replaced: boolean;
  /** Notes from the verification (e.g. a runtime check skipped, and why). */
  notes: string[];
  result: T;
}

/** The temporary folder an output is assembled in; checks queued here run before anything is put in place. */
export class OutputStage {
  private readonly checks: { what: string; run: () => Promise<string[] | void> }[] = [];

  constructor(readonly dir: string) {}

  /** Absolute path of `rel` (POSIX separators) inside the stage. */
  path(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  /** Writes a small file and queues a check that it reads back byte for byte. */
  async text(rel: string, content: string | Uint8Array): Promise<string> {
    const file = this.path(rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
    const expected = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
    this.verifyLater(rel, async () => {
      if (!expected.equals(await fs.readFile(file))) throw new Error('the file on disk differs from what was written');
    });
    return file;
  }

  /** Writes JSON and queues a check that it parses back to the same value (and passes `check`, if given). */
  async json(rel: string, value: unknown, check?: (parsed: unknown, file: string) => void): Promise<string> {
    const text = `${JSON.stringify(value, null, 2)}\n`;
    const file = await this.text(rel, text);
    if (check) this.verifyLater(rel, async () => check(JSON.parse(await fs.readFile(file, 'utf8')) as unknown, file));
    return file;
  }

  /** Writes a model with its format's writer and queues its format's verification. */
  async model(rel: string, output: ModelOutput): Promise<string> {
    const dest = this.path(rel);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await output.write(dest);
    this.verifyLater(`${rel} (${output.describe})`, () => output.verify(dest));
    return dest;
  }

  verifyLater(what: string, run: () => Promise<string[] | void>): void {
    this.checks.push({ what, run });
  }

  /** Runs every queued check; the first failure becomes an OutputVerificationError naming the file. */
  async runChecks(label: string, signal?: AbortSignal): Promise<string[]> {
    const notes: string[] = [];
    for (const c of this.checks) {
      if (signal?.aborted) throw new CancelledError();
      try {
        notes.push(...((await c.run()) ?? []));
      } catch (err) {
        const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
        throw new OutputVerificationError(
          `${label}: the written ${c.what} failed verification (${why}); nothing was written`,
        );
      }
    }
    return notes;
  }
}

/** Checks a target before any work starts (the same rules are applied again when the output is committed). */
export async function checkOutputTarget(
  target: string,
  kind: OutputKind,
  rules: TargetRules,
): Promise<InspectedTarget> {
  return inspectTarget(target, kind, rules);
}

/** Assembles an output folder with `fill`, verifies it and puts it in place at `target`. */
export async function writeOutputFolder<T>(
  target: string,
  fill: (stage: OutputStage) => Promise<T>,
  opts: OutputOptions,
): Promise<WrittenOutput<T>> {
  const label = opts.label ?? target;
  const first = await inspectTarget(target, 'folder', opts);
  return withStaging(first.real, label, async (tmp) => {
    const stage = new OutputStage(tmp);
    const result = await fill(stage);
    if (opts.signal?.aborted) throw new CancelledError();
    const notes = await stage.runChecks(label, opts.signal);
    await writeMarkerFile(path.join(tmp, MARKER_FILE), await buildMarker(tmp, await listFiles(tmp), opts.command));
    if (opts.signal?.aborted) throw new CancelledError();
    // The work may have taken hours: the target is judged again just before it is replaced.
    const now = await inspectTarget(target, 'folder', opts);
    await commitFolder(tmp, now, label);
    return { path: now.real, replaced: now.state === 'previous', notes, result };
  });
}

/** Writes a single-file output (e.g. `pruned.onnx`) through a temporary copy beside it, verified first. */
export async function writeOutputFile(
  target: string,
  output: ModelOutput,
  opts: OutputOptions,
): Promise<WrittenOutput<void>> {
  const label = opts.label ?? target;
  const first = await inspectTarget(target, 'file', opts);
  return withStaging(first.real, label, async (tmp) => {
    const name = path.basename(first.real);
    const staged = path.join(tmp, name);
    await output.write(staged);
    const stage = new OutputStage(tmp);
    stage.verifyLater(`${name} (${output.describe})`, () => output.verify(staged));
    const notes = await stage.runChecks(label, opts.signal);
    const marker = await buildMarker(tmp, [name], opts.command);
    if (opts.signal?.aborted) throw new CancelledError();
    const now = await inspectTarget(target, 'file', opts);
    await commitFile(staged, now, marker, label);
    return { path: now.real, replaced: now.state === 'previous', notes, result: undefined };
  });
}

/**
 * Runs `work` with a fresh hidden folder beside `real`; removes it afterwards whatever happens, and removes
 * parent folders this call created when nothing ends up in them. System errors become one-line OutputErrors.
 */
async function withStaging<R>(real: string, label: string, work: (tmp: string) => Promise<R>): Promise<R> {
  const parent = path.dirname(real);
  let createdTop: string | undefined;
  let tmp: string | undefined;
  try {
    createdTop = await fs.mkdir(parent, { recursive: true });
    // Not mkdtemp: its 0700 mode would become the output's; mkdir gives the usual umask-based mode.
    const name = path.join(parent, `.${path.basename(real)}.prunelens-tmp-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(name);
    tmp = name;
    return await work(tmp);
  } catch (err) {
    throw asOutputError(err, label);
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (createdTop) await removeEmptyParents(parent, createdTop);
  }
}

async function removeEmptyParents(from: string, top: string): Promise<void> {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      await fs.rmdir(dir);
    } catch {
      return;
    }
    if (dir === top || path.dirname(dir) === dir) return;
  }
}

function asOutputError(err: unknown, label: string): unknown {
  if (err instanceof PruneLensError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.syscall === 'string') {
    return new OutputError(
      `${label}: cannot write (${e.code}: ${e.syscall}${e.path ? ` ${e.path}` : ''}); nothing was changed`,
    );
  }
  return err;
}

const asideName = (real: string): string =>
  path.join(path.dirname(real), `.${path.basename(real)}.prunelens-old-${randomBytes(4).toString('hex')}`);

async function commitFolder(tmp: string, target: InspectedTarget, label: string): Promise<void> {
  if (target.state !== 'previous') {
    try {
      // Onto nothing or an empty folder; fails (nothing lost) if something appeared there meanwhile.
      await fs.rename(tmp, target.real);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
        throw new OutputError(`${label}: something was created there while PruneLens worked; nothing was changed`);
      }
      throw err;
    }
    return;
  }
  const old = asideName(target.real);
  await fs.rename(target.real, old);
  try {
    await fs.rename(tmp, target.real);
  } catch (err) {
    await fs.rename(old, target.real);
    throw err;
  }
  await fs.rm(old, { recursive: true, force: true });
}

async function commitFile(
  staged: string,
  target: InspectedTarget,
  marker: Awaited<ReturnType<typeof buildMarker>>,
  label: string,
): Promise<void> {
  const sidecar = sidecarPath(target.real);
  if (target.state === 'new') {
    try {
      // link() never replaces: if a file appeared at the target meanwhile, it is left alone.
      await fs.link(staged, target.real);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new OutputError(`${label}: a file was created there while PruneLens worked; nothing was changed`);
      throw err;
    }
    try {
      await writeMarkerFile(sidecar, marker);
    } catch (err) {
      await fs.unlink(target.real).catch(() => undefined);
      throw err;
    }
    return;
  }
  const old = asideName(target.real);
  await fs.rename(target.real, old);
  try {
    await fs.rename(staged, target.real);
    await writeMarkerFile(sidecar, marker);
  } catch (err) {
    await fs.rename(old, target.real);
    throw err;
  }
  await fs.rm(old, { force: true });
}
