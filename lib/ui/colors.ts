import pc from 'picocolors';

/** The colour functions views paint with; all of them are the identity when colour is off. */
export type Colors = ReturnType<typeof pc.createColors>;

/** Colours on or off. */
export function makeColors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}
