import { PruneLensError } from '../../util/errors';

/** A TF.js layers model that cannot be read or written: the message names the file and what is wrong. */
export class TfjsLayersFormatError extends PruneLensError {}
