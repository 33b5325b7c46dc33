/** A stack file's source, importing hpcdk as a user's project does. */
export function stackSource(body: string): string {
  return `import { App, Stack, TextFile, ClusterProfile } from 'hpcdk';\nconst app = new App();\n${body}\nvoid app; void Stack; void TextFile; void ClusterProfile;\n`;
}
