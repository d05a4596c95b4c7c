import { PruneLensError } from '../../util/errors';

/** A Keras `.keras` / `.h5` model that cannot be read or written: the message names the file and what is wrong. */
export class KerasFormatError extends PruneLensError {}
