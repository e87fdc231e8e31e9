import fc from 'fast-check';
import { canonicalRef, isValidName, nameError, relativePath, selfLink } from './names';

const validName = fc.stringMatching(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);

describe('names', () => {
  it.each(['a', 'net-1', 'a1', 'x'.repeat(63), 'a-b-c'])('accepts %s', (name) => {
    expect(isValidName(name)).toBe(true);
    expect(nameError(name)).toBeUndefined();
  });

  it.each(['', '1a', '-a', 'a-', 'A', 'aB', 'a_b', 'a.b', 'a b', 'x'.repeat(64), 'é'])('rejects %j', (name) => {
    expect(isValidName(name)).toBe(false);
    expect(nameError(name)).toEqual(expect.any(String));
  });

  it('says why', () => {
    expect(nameError('')).toBe('must not be empty');
    expect(nameError('x'.repeat(64))).toMatch(/longer than 63/);
    expect(nameError('Net')).toMatch(/RFC 1035/);
  });
});

describe('canonicalRef', () => {
  const networks = { project: 'p1', collection: 'networks' } as const;

  it.each([
    'net-1',
    'projects/p1/networks/net-1',
    'https://natplane.example.com/v1/projects/p1/networks/net-1',
    'http://localhost:8080/v1/projects/p1/networks/net-1',
    'https://gw.example.com/nat/api/v1/projects/p1/networks/net-1',
  ])('accepts %s', (input) => {
    expect(canonicalRef(input, networks)).toEqual({ ok: true, name: 'net-1' });
  });

  it('handles a project called v1', () => {
    const scope = { project: 'v1', collection: 'addresses' } as const;
    expect(canonicalRef('https://h/v1/projects/v1/addresses/a', scope)).toEqual({ ok: true, name: 'a' });
    expect(canonicalRef('projects/v1/addresses/a', scope)).toEqual({ ok: true, name: 'a' });
  });

  it('refuses another project', () => {
    expect(canonicalRef('projects/p2/networks/net-1', networks)).toEqual({
      ok: false,
      message: "refers to project 'p2'; only resources of project 'p1' may be referenced",
    });
    expect(canonicalRef('https://h/v1/projects/p2/networks/net-1', networks).ok).toBe(false);
  });

  it('refuses another collection', () => {
    expect(canonicalRef('projects/p1/subnets/net-1', networks)).toEqual({
      ok: false,
      message: 'refers to subnets; expected a reference to networks',
    });
    expect(canonicalRef('https://h/v1/admin/hosts/net-1', networks).ok).toBe(false);
  });

  it.each(['Net', 'projects/p1/networks/Net', 'https://h/v1/projects/p1/networks/-x', 'projects/p1/networks/'])(
    'refuses the invalid name in %s',
    (input) => {
      expect(canonicalRef(input, networks)).toEqual({ ok: false, message: expect.stringMatching(/name|empty/) });
    },
  );

  it.each([
    '',
    'projects/p1/networks',
    'projects/p1/networks/n/extra',
    '/projects/p1/networks/n',
    'p1/networks/n',
    'ftp://h/v1/projects/p1/networks/n',
    'https://h/projects/p1/networks/n',
    'https://h/v2/projects/p1/networks/n',
    'https://h/v1/projects/p1/networks/n?x=1',
    'https://h/v1/projects/p1/networks/n/',
    'https:///v1/projects/p1/networks/n',
  ])('refuses the malformed %j', (input) => {
    expect(canonicalRef(input, networks).ok).toBe(false);
  });

  it('admin collections', () => {
    const hosts = { collection: 'hosts' } as const;
    expect(canonicalRef('h1', hosts)).toEqual({ ok: true, name: 'h1' });
    expect(canonicalRef('admin/hosts/h1', hosts)).toEqual({ ok: true, name: 'h1' });
    expect(canonicalRef('https://api.example.com/v1/admin/hosts/h1', hosts)).toEqual({ ok: true, name: 'h1' });
    expect(canonicalRef('admin/addressPools/h1', hosts)).toEqual({ ok: false, message: 'refers to addressPools; expected a reference to hosts' });
    expect(canonicalRef('projects/p1/hosts/h1', hosts).ok).toBe(false);
  });

  it('every form of a valid reference canonicalizes to the name', () => {
    const base = fc.constantFrom('https://natplane.example.com', 'http://127.0.0.1:8080/', 'https://x.y/prefix');
    fc.assert(
      fc.property(validName, validName, base, (project, name, url) => {
        const scope = { project, collection: 'addresses' } as const;
        const path = relativePath(scope, name);
        for (const form of [name, path, selfLink(url, path)]) {
          expect(canonicalRef(form, scope)).toEqual({ ok: true, name });
        }
      }),
    );
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string(), (input) => {
        const result = canonicalRef(input, networks);
        if (result.ok) expect(isValidName(result.name)).toBe(true);
      }),
    );
  });
});

describe('relativePath and selfLink', () => {
  it('builds paths and links', () => {
    expect(relativePath({ project: 'p', collection: 'natGateways' }, 'g')).toBe('projects/p/natGateways/g');
    expect(relativePath({ collection: 'addressPools' }, 'pool')).toBe('admin/addressPools/pool');
    expect(selfLink('https://api.example.com/', 'projects/p/networks/n')).toBe('https://api.example.com/v1/projects/p/networks/n');
    expect(selfLink('http://localhost:8080', '/admin/hosts/h')).toBe('http://localhost:8080/v1/admin/hosts/h');
  });
});
