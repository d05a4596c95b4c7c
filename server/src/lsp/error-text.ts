/**
 * Any failure → the sentence a diagnostic shows. The engine's own errors (PruneLensError and its format
 * subclasses) already are one sentence naming the file and the problem; anything else is a raw JavaScript or
 * system exception ("Cannot read properties of undefined", "Invalid array length", "EACCES: …"), which says
 * nothing to a user. Those become a sentence about the file, with the raw text kept short in parentheses for
 * a bug report.
 */
import { PruneLensError } from '../engine/util/errors';

const SYSTEM: Record<string, string> = {
  ENOENT: 'the file does not exist (it may have been moved or deleted)',
  ENOTDIR: 'a folder on its path is a file',
  EACCES: 'permission denied: PruneLens cannot read it',
  EPERM: 'permission denied: PruneLens cannot read it',
  EISDIR: 'it is a folder, not a file',
  EMFILE: 'too many files are open; try again',
  ELOOP: 'its path has a loop of symbolic links',
  ENAMETOOLONG: 'its path is too long',
  EIO: 'the disk reported an input/output error while reading it',
};

/** One line for a diagnostic; `what` names the thing that could not be handled (e.g. "this model"). */
export function diagnosticText(err: unknown, what = 'this file'): string {
  if (err instanceof PruneLensError) return oneLine(err.message);
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as NodeJS.ErrnoException).code;
  if (code && SYSTEM[code]) return `PruneLens cannot read ${what}: ${SYSTEM[code]}`;
  const raw = oneLine(e.message).slice(0, 120);
  let sentence: string;
  if (e instanceof RangeError && /call stack/i.test(e.message)) sentence = `${what} is nested too deeply to process`;
  else if (e instanceof RangeError && /(array|buffer|allocation|length|size)/i.test(e.message))
    sentence = `${what} describes data too large to hold in memory`;
  else if (e instanceof SyntaxError) sentence = `${what} is not valid JSON`;
  else if (e instanceof TypeError)
    sentence = `${what} has a value of an unexpected type where PruneLens expected another (a malformed or hand-edited file?)`;
  else if (/out of memory|heap/i.test(e.message)) sentence = `${what} needs more memory than PruneLens may use`;
  else sentence = `PruneLens could not process ${what}`;
  return `${sentence} (${e.name}: ${raw})`;
}

function oneLine(s: string): string {
  // Control characters would break the one-line diagnostic: matching them is the point of this pattern.
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/g;
  return s
    .replace(/\s*\n\s*/g, ' ')
    .replace(control, '?')
    .trim();
}
