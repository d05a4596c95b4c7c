import { PruneLensError } from '../../util/errors';

/** A PyTorch checkpoint that cannot be read or written (or refused as unsafe): the message names the file and what is wrong. */
export class PyTorchFormatError extends PruneLensError {}
