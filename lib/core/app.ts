import { Construct } from 'constructs';
import { Stack } from './stack.js';

const APP_SYMBOL = Symbol.for('hpcdk.App');
/** Where Apps announce themselves while the CLI loads stack files. */
const REGISTRY = Symbol.for('hpcdk.AppRegistry');

type Registry = { apps: App[] };

function registry(): Registry | undefined {
  return (globalThis as Record<symbol, Registry | undefined>)[REGISTRY];
}

/**
 * The root of a construct tree. A stack file makes an App and adds stacks to it;
 * the CLI finds every App made while it loads `stacks/*.ts`, so a stack file
 * needs no export and no call at its end.
 */
export class App extends Construct {
  public static isApp(x: unknown): x is App {
    return typeof x === 'object' && x !== null && APP_SYMBOL in x;
  }

  /**
   * Runs `load` and returns the Apps it created. Used by the stack loader;
   * collection is scoped to the call, so nothing leaks between loads.
   */
  public static async collect(load: () => Promise<void>): Promise<App[]> {
    const previous = registry();
    const current: Registry = { apps: [] };
    (globalThis as Record<symbol, Registry | undefined>)[REGISTRY] = current;
    try {
      await load();
      return current.apps;
    } finally {
      (globalThis as Record<symbol, Registry | undefined>)[REGISTRY] = previous;
    }
  }

  constructor() {
    // The root has an empty id, so stack paths start with the stack's name.
    super(undefined as unknown as Construct, '');
    Object.defineProperty(this, APP_SYMBOL, { value: true });
    registry()?.apps.push(this);
  }

  public get stacks(): Stack[] {
    return this.node.children.filter(Stack.isStack);
  }
}
