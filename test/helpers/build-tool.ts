/**
 * Stack-file source for a construct whose build runs `script` on the target
 * when applied (a stand-in for an environment build): fault suites use it to
 * give apply a step that takes as long as they need. Declares `Tool`; the
 * stack file must import HpcConstruct, z and Construct from hpcdk.
 */
export function buildToolSource(script: string): string {
  return `const ToolSchema = z.object({}).strict();
class Tool extends HpcConstruct<typeof ToolSchema> {
  public readonly kind = 'tool';
  constructor(scope: Construct, id: string) { super(scope, id, ToolSchema, {}); }
  public synthesize() {
    return {
      artifacts: [{ path: 'build.sh', kind: 'script' as const, executable: true, content: ${JSON.stringify(`${script}\n`)} }],
      resources: [{ kind: this.kind, inputs: {}, spec: { build: { script: this.address + '/build.sh' } } }],
    };
  }
}`;
}
