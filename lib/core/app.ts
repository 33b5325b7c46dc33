import { Construct } from 'constructs';
import { announceApp, collectDuring } from './registry.js';
import { Stack } from './stack.js';

const APP_SYMBOL = Symbol.for('hpcdk.App');

/**
 * The root of a construct tree. A stack file makes an App and adds stacks to it;
 * the CLI finds every App made while it loads `stacks/*.ts`, so a stack file
 * needs no export and no call at its end.
 */
export class App extends Construct {
  public static isApp(x: unknown): x is App {
    return typeof x === 'object' && x !== null && APP_SYMBOL in x;
  }

  /** Runs `load` and returns the Apps it created (used by the stack loader). */
  public static async collect(load: () => Promise<void>): Promise<App[]> {
    return (await collectDuring(load)).apps.filter(App.isApp);
  }

  constructor() {
    // The root has an empty id, so stack paths start with the stack's name.
    super(undefined as unknown as Construct, '');
    Object.defineProperty(this, APP_SYMBOL, { value: true });
    announceApp(this);
  }

  public get stacks(): Stack[] {
    return this.node.children.filter(Stack.isStack);
  }
}
