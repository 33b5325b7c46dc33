import { z } from 'zod';
import { isRuntimeRef, type RuntimeRef, type ShellValue } from '../shell/index.js';

/** A value for a script: a literal string (quoted when rendered) or a RuntimeRef (expanded on the node). */
export const ShellValueSchema: z.ZodType<ShellValue> = z.union([
  z.string(),
  z.custom<RuntimeRef>(isRuntimeRef, { message: 'must be a string or a RuntimeRef' }),
]);
