/**
 * Writes schema.json from the zod definition (definition.ts): `npx tsx server/src/engine/config/generate-schema.ts`.
 * schema.json stays a checked-in file because ajv, the editor's completion and VS Code's jsonValidation
 * (dist/prunelens-config.schema.json, copied at build) read it as JSON; test/unit/config-definition.test.ts
 * fails when it is out of date.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from './definition';

export const SCHEMA_FILE = join(__dirname, 'schema.json');

export function schemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
