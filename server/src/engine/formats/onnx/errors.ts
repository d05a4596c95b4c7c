import { PruneLensError } from '../../util/errors';

/** An ONNX model that cannot be read or written: the message names the file (or layer) and what is wrong. */
export class OnnxFormatError extends PruneLensError {}
