/** The typed shape of a validated config: inferred from the one definition (definition.ts), as schema.json is generated from it. */
import type { z } from 'zod';
import type { ConfigDefinition } from './definition';

export type PruneLensConfig = z.input<typeof ConfigDefinition>;

/** A config after `resolveConfig`: every option the definition gives a default has its value. */
export type ResolvedConfig = z.output<typeof ConfigDefinition>;
