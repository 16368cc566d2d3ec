import { describe, expect, it } from 'vitest';
import {
  isSecretKey,
  REDACTED,
  redactBody,
  redactHeaders,
  redactPayload,
  withoutSecrets,
} from './redact.js';

describe('redaction for trace logs', () => {
  it('replaces secrets at any depth and keeps everything else', () => {
    const body = {
      objects: [
        {
          name: 'web',
          vnc_password: 'hunter2',
          meta: { note: 'keep' },
          nics: [{ vlan: null }],
        },
      ],
      password: 'p',
      keys: [{ private_key: '-----BEGIN', public_key: 'ssh-ed25519 AAAA' }],
    };
    const copy = structuredClone(body);
    expect(redactBody(body)).toEqual({
      objects: [
        { name: 'web', vnc_password: REDACTED, meta: { note: 'keep' }, nics: [{ vlan: null }] },
      ],
      password: REDACTED,
      keys: [{ private_key: REDACTED, public_key: 'ssh-ed25519 AAAA' }],
    });
    expect(body).toEqual(copy);
  });

  it('leaves a null secret null (nothing to hide, and it says no key was set)', () => {
    expect(redactBody({ private_key: null })).toEqual({ private_key: null });
  });

  it('replaces credential headers whatever their case', () => {
    expect(
      redactHeaders({
        Authorization: 'Basic eDp5',
        cookie: 'session=1',
        accept: 'application/json',
      }),
    ).toEqual({ Authorization: REDACTED, cookie: REDACTED, accept: 'application/json' });
  });

  it('parses JSON payloads and gives the size of anything else', () => {
    expect(redactPayload('{"password":"x","a":1}')).toEqual({ password: REDACTED, a: 1 });
    expect(redactPayload(Buffer.from('not json'))).toEqual({ bytes: 8 });
    expect(redactPayload('')).toBeUndefined();
  });

  it('names secrets whatever their case, short ones too, and nothing else', () => {
    for (const key of ['otp', 'OTP', 'Token', 'VNC_PASSWORD', 'admin_Passwd', 'api_key']) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ['ot', 'otpx', 'name', 'meta', 'tok'])
      expect(isSecretKey(key), key).toBe(false);
    expect(
      withoutSecrets({ name: 'a', OTP: '1', nics: [{ Token: 't', model: 'virtio' }] }),
    ).toEqual({
      name: 'a',
      nics: [{ model: 'virtio' }],
    });
  });
});
