/**
 * Zod compiles fast object parsers with `new Function` (after probing whether eval works): under the
 * webviews' CSP that probe is a script-src violation. Interpreted parsing is fast enough for messages.
 * Its own module, imported first by messages.ts, so the setting is in place before any schema module
 * (protocol/src/scores.ts included) is evaluated.
 */
import * as z from 'zod';

z.config({ jitless: true });
