/**
 * Errors the engine raises on bad input. Each names the file (when there is one) and the problem in one
 * sentence, so the CLI can print it as is and the language server can turn it into a diagnostic.
 */
export class PruneLensError extends Error {
  constructor(
    message: string,
    /** The file the problem is in, when it is about a file. */
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = new.target.name;
  }
}

/** A pruning plan that cannot be applied (unknown layer, contradicting entries, emptied layer). */
export class PlanError extends PruneLensError {}

/** Numbers the analysis cannot work with: NaN or infinite weights or activations (a diverged model, broken data). */
export class NumericError extends PruneLensError {}

/** The user asked for work to stop. */
export class CancelledError extends PruneLensError {
  constructor() {
    super('cancelled');
  }
}

/**
 * An output PruneLens refuses to write, or could not write: the target is an input, holds files PruneLens did
 * not write, is a link, or the file system said no. Nothing was changed when this is thrown.
 */
export class OutputError extends PruneLensError {}

/** A written output failed its check (re-read, totals, runtime load); it was not put in place. */
export class OutputVerificationError extends OutputError {}

/** A command-line flag is missing, unknown or out of range (checked before any work starts). */
export class UsageError extends PruneLensError {}
/** A FLOPs-matched comparison asked for on a model whose FLOPs are only a lower bound (some layer's cost unknown). */
export class FlopsUnknownError extends PruneLensError {}
