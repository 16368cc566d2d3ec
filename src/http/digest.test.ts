import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestVerifier, digestResponse, parseDigest } from './digest.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('DigestVerifier', () => {
  it('refuses a replay for as long as its nonce is valid, however many other logins happen', async () => {
    let now = 1_000_000;
    const verifier = new DigestVerifier(60_000, () => now, 3);
    const ha1 = md5('me@x.io:users:pw');
    const login = (nonce: string) => {
      const response = digestResponse(ha1, nonce, '00000001', 'c', 'GET', '/a');
      return verifier.verify(
        {
          username: 'me@x.io',
          realm: 'users',
          nonce,
          uri: '/a',
          response,
          qop: 'auth',
          nc: '00000001',
          cnonce: 'c',
        },
        ha1,
        'GET',
        '/a',
      );
    };
    const nonceOf = () => /nonce="([^"]+)"/.exec(verifier.challenge())![1]!;
    const first = nonceOf();
    expect(await login(first)).toBe(true);
    const others = [nonceOf(), nonceOf(), nonceOf(), nonceOf()];
    // The table is full with live nonces: a new one is refused, never the first forgotten.
    const answers: boolean[] = [];
    for (const nonce of others) answers.push(await login(nonce));
    expect(answers).toEqual([true, true, false, false]);
    expect(await login(first)).toBe(false);
    // Once the tracked nonces expire, new ones are taken again.
    now += 60_001;
    expect(await login(nonceOf())).toBe(true);
  });

  it('expires nonces: a stale one is reported as stale, a forged one as invalid', () => {
    let now = 1_000_000;
    const verifier = new DigestVerifier(60_000, () => now);
    const nonce = /nonce="([^"]+)"/.exec(verifier.challenge())![1]!;
    expect(verifier.checkNonce(nonce)).toBe('ok');
    now += 60_001;
    expect(verifier.checkNonce(nonce)).toBe('stale');
    expect(verifier.checkNonce(nonce.replace(/.$/, (c) => (c === '0' ? '1' : '0')))).toBe(
      'invalid',
    );
    expect(verifier.challenge(true)).toMatch(/stale=true$/);
  });

  it('checks the RFC 2617 response and refuses counts that do not grow', async () => {
    const verifier = new DigestVerifier();
    const challenge = verifier.challenge();
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
    const opaque = /opaque="([^"]+)"/.exec(challenge)![1]!;
    const ha1 = md5('me@x.io:users:pw');
    const header = (nc: string) =>
      `Digest username="me@x.io", realm="users", nonce="${nonce}", uri="/a?b=1", qop=auth, nc=${nc}, cnonce="c", response="${digestResponse(ha1, nonce, nc, 'c', 'GET', '/a?b=1')}", opaque="${opaque}"`;
    const params = parseDigest(header('00000002'))!;
    expect(params).toMatchObject({
      username: 'me@x.io',
      uri: '/a?b=1',
      nc: '00000002',
      qop: 'auth',
    });
    expect(await verifier.verify(params, ha1, 'GET', '/a?b=1')).toBe(true);
    expect(await verifier.verify(params, ha1, 'GET', '/a?b=1')).toBe(false);
    expect(await verifier.verify(parseDigest(header('00000001'))!, ha1, 'GET', '/a?b=1')).toBe(
      false,
    );
    expect(await verifier.verify(parseDigest(header('00000003'))!, ha1, 'POST', '/a?b=1')).toBe(
      false,
    );
    expect(await verifier.verify(parseDigest(header('00000003'))!, ha1, 'GET', '/a?b=1')).toBe(
      true,
    );
  });

  it('parses only Digest headers with their required parts', () => {
    expect(parseDigest('Basic abc')).toBeNull();
    expect(parseDigest('Digest username="x"')).toBeNull();
  });
});
