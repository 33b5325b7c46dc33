/**
 * execa, loaded on first use: it costs about 90 ms to load, and most commands
 * reach an SSH target through ssh2 without starting a process.
 */
let loaded: Promise<typeof import('execa')> | undefined;

export async function loadExeca(): Promise<typeof import('execa')['execa']> {
  loaded ??= import('execa');
  return (await loaded).execa;
}
