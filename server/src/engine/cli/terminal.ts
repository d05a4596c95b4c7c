/**
 * The CLI's stderr discipline: progress lines that rewrite themselves (`\r…`) are tracked, so the final error
 * line always starts on a line of its own, and live progress bars are stopped before it is printed.
 */
import { TerminalProgress } from './progress-bar';

let openLine = false;

/** Rewrites the current status line on stderr (no newline: the next status overwrites it). */
export function statusLine(text: string): void {
  process.stderr.write(`\r${text}`);
  openLine = true;
}

/** Ends an open status line, if there is one. */
export function endStatusLine(): void {
  if (openLine) process.stderr.write('\n');
  openLine = false;
}

/** Prints `prunelens: message` as one line on stderr, below any progress output. */
export function printErrorLine(message: string): void {
  TerminalProgress.stopAll();
  endStatusLine();
  const line = message
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join(' ');
  process.stderr.write(`prunelens: ${line}\n`);
}

/** Verification notes (e.g. a runtime that could not be loaded here), one `prunelens: note:` line each. */
export function printNotes(notes: readonly string[]): void {
  endStatusLine();
  for (const n of notes) process.stderr.write(`prunelens: note: ${n}\n`);
}

/** The exit status a command asks for without failing (130: a cancelled `run --events`); main() returns it. */
export const exitStatus = { code: 0 };
