import { PruneLensError } from '../util/errors';

/**
 * A folder or file that claims to be a dataset format but cannot be read as one. The message names the
 * file or folder and the problem (missing masks, size mismatch, unknown colour, truncated record, ...).
 */
export class DatasetError extends PruneLensError {}
