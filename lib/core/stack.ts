import { Construct, type IConstruct } from 'constructs';
import { BudgetSchema, ClusterProfile, LOCAL_TARGET, type Budget } from './cluster-profile.js';
import { issuesFromZod, rawPropIssues, unknownFieldIssues, type ValidationIssue } from './validation.js';

const STACK_SYMBOL = Symbol.for('hpcdk.Stack');
const STACK_NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** Every field of StackProps: anything else is a typo that would otherwise change the stack silently. */
const STACK_FIELDS = ['targets', 'description', 'budget'] as const;

export interface StackProps {
  /**
   * The targets this stack is deployed to. `synth` renders one snapshot folder
   * per target; the first is the default for plan and apply.
   * @default [ClusterProfile.local()]
   */
  readonly targets?: readonly ClusterProfile[];
  /** One line shown by `hpcdk ls`. */
  readonly description?: string;
  /**
   * The most compute one plan of this stack may request, e.g. `{ gpuHours: 100 }`;
   * the target's budget applies too, and the tighter wins.
   * @default no limit
   */
  readonly budget?: Budget;
}

/** A unit of deployment: a named tree of constructs, rendered and applied together. */
export class Stack extends Construct {
  /** The stack that contains `construct`. */
  public static of(construct: IConstruct): Stack {
    for (const scope of construct.node.scopes.slice().reverse()) {
      if (Stack.isStack(scope)) return scope;
    }
    throw new Error(`[${construct.node.path}] is not inside a Stack`);
  }

  /** True for a Stack, even one from another copy of this library. */
  public static isStack(x: unknown): x is Stack {
    return typeof x === 'object' && x !== null && STACK_SYMBOL in x;
  }

  public readonly description?: string;
  public readonly budget?: Budget;
  private readonly declaredTargets: readonly ClusterProfile[];
  /** The id as written: the constructs library turns a `/` or a newline in it into `--`. */
  private readonly givenId: string;
  /** The props as given, for the unknown fields among them. */
  private readonly givenProps: object;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id);
    this.givenId = id;
    this.givenProps = props;
    Object.defineProperty(this, STACK_SYMBOL, { value: true });
    this.description = props.description;
    this.budget = props.budget;
    this.declaredTargets = props.targets && props.targets.length > 0 ? [...props.targets] : [ClusterProfile.local()];
  }

  public get stackName(): string {
    return this.node.id;
  }

  /** The declared targets, default first. */
  public get targets(): readonly ClusterProfile[] {
    return this.declaredTargets;
  }

  public get defaultTarget(): ClusterProfile {
    return this.declaredTargets[0]!;
  }

  /** The declared target called `name`; `local` is always available. */
  public target(name: string): ClusterProfile | undefined {
    const declared = this.declaredTargets.find((t) => t.name === name);
    if (declared) return declared;
    return name === LOCAL_TARGET ? ClusterProfile.local() : undefined;
  }

  /** Problems with the stack itself (its name, duplicate targets). */
  public stackIssues(): ValidationIssue[] {
    const issues: ValidationIssue[] = [];
    if (!STACK_NAME.test(this.givenId)) {
      issues.push({
        path: this.node.path,
        field: 'id',
        message: 'a stack name must be lowercase letters, digits, - or _',
        got: this.givenId,
      });
    }
    issues.push(...unknownFieldIssues(this.node.path, this.givenProps, STACK_FIELDS));
    issues.push(...rawPropIssues(this.node.path, { description: this.description }));
    if (this.budget !== undefined) {
      const parsed = BudgetSchema.safeParse(this.budget, { reportInput: true });
      if (!parsed.success) issues.push(...issuesFromZod(this.node.path, parsed.error, ['budget']));
    }
    const seen = new Set<string>();
    for (const t of this.declaredTargets) {
      if (seen.has(t.name)) {
        issues.push({ path: this.node.path, field: 'targets', message: 'declares the same target twice', got: t.name });
      }
      seen.add(t.name);
    }
    return issues;
  }
}
