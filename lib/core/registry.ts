/**
 * What stack files make while the CLI loads them: Apps (each with its
 * stacks) and ClusterProfiles (shared ones need no stack). Kept on globalThis
 * under a registered symbol, so a second copy of this library in the same
 * process still reports to the loader.
 */
const REGISTRY = Symbol.for('hpcdk.LoadRegistry');

export interface LoadRegistry {
  readonly apps: unknown[];
  readonly profiles: unknown[];
}

function current(): LoadRegistry | undefined {
  return (globalThis as Record<symbol, LoadRegistry | undefined>)[REGISTRY];
}

export function announceApp(app: unknown): void {
  current()?.apps.push(app);
}

export function announceProfile(profile: unknown): void {
  current()?.profiles.push(profile);
}

/** Runs `load` and returns what it made; nothing leaks between loads. */
export async function collectDuring(load: () => Promise<void>): Promise<LoadRegistry> {
  const previous = current();
  const registry: LoadRegistry = { apps: [], profiles: [] };
  (globalThis as Record<symbol, LoadRegistry | undefined>)[REGISTRY] = registry;
  try {
    await load();
    return registry;
  } finally {
    (globalThis as Record<symbol, LoadRegistry | undefined>)[REGISTRY] = previous;
  }
}
