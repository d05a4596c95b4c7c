import { doctorReport } from '../runtime/backend';
import { out } from './common';

export async function doctorCommand(): Promise<void> {
  for (const line of await doctorReport()) out(line);
}
