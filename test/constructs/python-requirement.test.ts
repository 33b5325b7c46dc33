import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  formatRequirement,
  isPinned,
  isRequirementError,
  isVersion,
  normaliseName,
  parseRequirement,
  satisfies,
  type Requirement,
} from '../../lib/constructs/python-requirement.js';

function req(text: string): Requirement {
  const r = parseRequirement(text);
  if (isRequirementError(r)) throw new Error(`${text}: ${r.error}`);
  return r;
}

function errorOf(text: string): string {
  const r = parseRequirement(text);
  return isRequirementError(r) ? r.error : 'no error';
}

describe('PEP 508 requirements', () => {
  it('GIVEN names, extras, specifiers and markers WHEN parsed THEN they are normalised and render canonically', () => {
    expect(
      req('Torch_Vision [Extra.B, a] ( >=0.24 , ==0.24.1 ) ; python_version >= "3.10" and sys_platform != \'win32\''),
    ).toEqual({
      name: 'torch-vision',
      extras: ['a', 'extra-b'],
      clauses: [
        { op: '==', version: '0.24.1' },
        { op: '>=', version: '0.24' },
      ],
      marker: 'python_version >= "3.10" and sys_platform != \'win32\'',
    });
    expect(formatRequirement(req('Requests ~= 2.31.0'))).toBe('requests~=2.31.0');
    expect(normaliseName('Foo__bar.Baz')).toBe('foo-bar-baz');
  });

  it('GIVEN texts that are not PEP 508 requirements WHEN parsed THEN each error says what is wrong', () => {
    expect(errorOf('')).toBe('must start with a project name');
    expect(errorOf('numpy=1.26')).toBe('"=1.26" is not a version specifier such as ==1.2.3 or ~=1.2');
    expect(errorOf('numpy==one')).toBe('"one" is not a PEP 440 version');
    expect(errorOf('numpy>=1.*')).toBe('.* is only allowed with == and !=, not >=1.*');
    expect(errorOf('numpy~=1')).toBe('~= needs at least two release numbers, as in ~=1.0');
    expect(errorOf('numpy==1; python_version >')).toBe('expected a marker variable or a quoted string after >');
    expect(errorOf('numpy==1; (python_version > "3"')).toBe('an opening parenthesis is not closed');
    expect(errorOf('pkg @ https://example.invalid/pkg.whl')).toContain('a URL requirement is not a version pin');
  });

  it('GIVEN specifiers WHEN asked whether they pin THEN only == (no wildcard), ~= and === do', () => {
    expect(isPinned(req('a==1.2'))).toBe(true);
    expect(isPinned(req('a~=1.2'))).toBe(true);
    expect(isPinned(req('a==1.*'))).toBe(false);
    expect(isPinned(req('a>=1,<2'))).toBe(false);
    expect(isPinned(req('a'))).toBe(false);
  });
});

describe('PEP 440 versions', () => {
  it('GIVEN versions WHEN compared THEN pre, post and dev releases order as PEP 440 says', () => {
    const ordered = ['1.0.dev1', '1.0a1', '1.0b2', '1.0rc1', '1.0', '1.0.post1', '1.1'];
    for (let i = 0; i + 1 < ordered.length; i += 1)
      expect(compareVersions(ordered[i]!, ordered[i + 1]!), `${ordered[i]} < ${ordered[i + 1]}`).toBe(-1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(isVersion('2.31.0+computecanada')).toBe(true);
    expect(isVersion('3.x')).toBe(false);
  });

  it('GIVEN DRAC local version labels WHEN checked against pins THEN +computecanada is ignored (seed 003)', () => {
    expect(satisfies('2.31.0+computecanada', req('requests~=2.31.0'))).toBe(true);
    expect(satisfies('2.31.2+computecanada', req('requests~=2.31.0'))).toBe(true);
    expect(satisfies('2.32.0+computecanada', req('requests~=2.31.0'))).toBe(false);
    expect(satisfies('1.26.4+computecanada', req('numpy==1.26.4'))).toBe(true);
    expect(satisfies('1.26.4', req('numpy==1.26.4+computecanada'))).toBe(false);
    expect(satisfies('2.30.9', req('requests~=2.31.0'))).toBe(false);
    expect(satisfies('1.4.2', req('x~=1.2'))).toBe(true);
    expect(satisfies('2.0', req('x~=1.2'))).toBe(false);
    expect(satisfies('1.2.7', req('x==1.2.*'))).toBe(true);
    expect(satisfies('1.3', req('x==1.2.*'))).toBe(false);
  });
});
