import { describe, expect, it } from 'vitest';
import { RLibrary, Testing } from '../../lib/index.js';
import { checkLockDrift } from '../../lib/plan/drift.js';
import { parseRLock, sameRVersion } from '../../lib/plan/r-drift.js';

/** The manifest resource of an RLibrary with these pins, as plan sees it. */
function resource(packages: Record<string, string>) {
  const s = Testing.stack({}, 'exp');
  new RLibrary(s, 'rlib', { packages, localRepo: '/srv/rrepo' });
  return Testing.synth(s).resource('rlib');
}

/** A lock as lock.R prints it. */
const LOCK = `helperpkg==0.2-1
tinypkg==1.0.0
# requires helperpkg:
# requires tinypkg: helperpkg
`;

describe('R library locks', () => {
  it('GIVEN lock.R output WHEN parsed THEN names keep their case and dots, and requirements are read', () => {
    const lock = parseRLock(
      'data.table==1.14.8\nRcpp==1.0.11\n# requires data.table: methods\n# requires Rcpp: methods utils\n',
    );
    expect([...lock.installed]).toEqual([
      ['data.table', '1.14.8'],
      ['Rcpp', '1.0.11'],
    ]);
    expect(lock.requires.get('Rcpp')).toEqual(['methods', 'utils']);
  });

  it("GIVEN versions spelled differently WHEN compared THEN R's package_version rules hold", () => {
    expect(sameRVersion('7.3-60', '7.3.60')).toBe(true);
    expect(sameRVersion('1.01', '1.1')).toBe(true);
    expect(sameRVersion('1.0', '1.0.0')).toBe(true);
    expect(sameRVersion('1.0.1', '1.0')).toBe(false);
    expect(sameRVersion('1.14.8', '1.14.9')).toBe(false);
  });

  it('GIVEN a lock matching the pins (a dependency included, a dash spelling) WHEN plan checks it THEN there is no drift', () => {
    expect(checkLockDrift(resource({ tinypkg: '1.0.0', helperpkg: '0.2.1' }), LOCK)).toEqual([]);
  });

  it('GIVEN a pin the library does not hold, another version, and a package added by hand WHEN plan checks the lock THEN each is drift of the library', () => {
    const lock = `${LOCK}stray==3.1\n# requires stray:\n`;
    expect(checkLockDrift(resource({ tinypkg: '1.1.0', optparse: '1.7.5' }), lock)).toEqual([
      { address: 'rlib', kind: 'r-library', message: 'optparse: declared (optparse==1.7.5) but not installed' },
      { address: 'rlib', kind: 'r-library', message: 'tinypkg: installed 1.0.0, declared tinypkg==1.1.0' },
      // helperpkg is tinypkg's dependency: not drift.
      {
        address: 'rlib',
        kind: 'r-library',
        message: 'stray==3.1: installed, but neither declared nor required by a declared package',
      },
    ]);
  });

  it('GIVEN a lock without requires lines WHEN checked THEN only the pins are compared: nothing can be said of extra packages', () => {
    expect(checkLockDrift(resource({ tinypkg: '1.0.0' }), 'tinypkg==1.0.0\nhelperpkg==0.2-1\n')).toEqual([]);
  });

  it('GIVEN an emptied library WHEN checked THEN every pin is missing', () => {
    expect(checkLockDrift(resource({ tinypkg: '1.0.0' }), '').map((d) => d.message)).toEqual([
      'tinypkg: declared (tinypkg==1.0.0) but not installed',
    ]);
  });
});
