import type { Construct } from 'constructs';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  HpcConstruct,
  TextFile,
  Testing,
  type ConstructOutput,
  type SynthContext,
} from '../../lib/index.js';

const PartSchema = z.object({ text: z.string(), needs: z.array(z.custom<HpcConstruct>()).default([]) }).strict();

/** A construct that depends on others, to test identities and ordering. */
class Part extends HpcConstruct<typeof PartSchema> {
  public readonly kind = 'part';
  private readonly extra: HpcConstruct[] = [];
  constructor(scope: Construct, id: string, props: z.input<typeof PartSchema>) {
    super(scope, id, PartSchema, props);
  }
  public needsAlso(other: HpcConstruct): void {
    this.extra.push(other);
  }
  public synthesize(ctx: SynthContext): ConstructOutput {
    const needs = [...this.props.needs, ...this.extra];
    const deps = needs.map((n) => ctx.resolve(n).resources[0]!.identity.slice(0, 8));
    return {
      artifacts: [{ path: 'part.txt', kind: 'file', content: `${this.props.text}\r\nneeds ${deps.join(',')}\n` }],
      resources: [{ kind: 'file', inputs: { text: this.props.text }, dependsOn: needs, spec: {} }],
    };
  }
}

describe('synthesizeStack', () => {
  it('writes a manifest listing every artifact and resource with hashes and dependencies', () => {
    const stack = Testing.stack({}, 'demo');
    const base = new Part(stack, 'base', { text: 'a' });
    new Part(stack, 'top', { text: 'b', needs: [base] });
    const out = Testing.synth(stack);

    expect(Object.keys(out.files).sort()).toEqual(['base/part.txt', 'manifest.json', 'top/part.txt']);
    expect(out.manifest.artifacts.map((a) => [a.path, a.construct])).toEqual([
      ['base/part.txt', 'demo/base'],
      ['top/part.txt', 'demo/top'],
    ]);
    expect(out.resource('top').dependsOn).toEqual(['base']);
    expect(out.resource('top').identity).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(out.file('manifest.json'))).toEqual(JSON.parse(JSON.stringify(out.manifest)));
  });

  it('normalises line endings to LF', () => {
    const stack = Testing.stack();
    new Part(stack, 'p', { text: 'x' });
    expect(Testing.synth(stack).file('p/part.txt')).not.toContain('\r');
  });

  it('changes a dependent resource identity when its dependency changes, and only then', () => {
    const build = (text: string) => {
      const stack = Testing.stack();
      const base = new Part(stack, 'base', { text });
      new Part(stack, 'top', { text: 'same', needs: [base] });
      new Part(stack, 'other', { text: 'same' });
      return Testing.synth(stack);
    };
    const one = build('v1');
    const two = build('v2');
    expect(two.resource('top').identity).not.toBe(one.resource('top').identity);
    expect(two.resource('other').identity).toBe(one.resource('other').identity);
    expect(two.resource('base').inputs.text).not.toBe(one.resource('base').inputs.text);
  });

  it('gives the same construct a different identity on each target', () => {
    const cluster = new ClusterProfile('cluster', { scheduler: 'slurm', ssh: { host: 'c' } });
    const stack = Testing.stack({ targets: [ClusterProfile.local(), cluster] });
    new TextFile(stack, 'f', { content: 'same' });
    expect(Testing.synth(stack, { target: 'local' }).resource('f').identity).not.toBe(
      Testing.synth(stack, { target: 'cluster' }).resource('f').identity,
    );
  });

  it('reports a dependency cycle with the construct path', () => {
    const stack = Testing.stack({}, 'demo');
    const a = new Part(stack, 'a', { text: 'a' });
    const b = new Part(stack, 'b', { text: 'b', needs: [a] });
    a.needsAlso(b);
    expect(() => Testing.synth(stack)).toThrow(/\[demo\/a\] dependsOn: dependency cycle: a -> b -> a/);
  });

  it('gives identical bytes for identical trees', () => {
    const build = () => {
      const stack = Testing.stack();
      new TextFile(stack, 'x', { content: 'one' });
      new Part(stack, 'y', { text: 'two' });
      return Testing.synth(stack).files;
    };
    expect(build()).toEqual(build());
  });
});
