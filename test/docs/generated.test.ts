import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/config.js';
import { renderConfigurationDoc } from '../../src/docs/configuration.js';

describe('generated documentation', () => {
  it('docs/configuration.md is what the option declarations render (run `npm run docs`)', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigurationDoc());
  });

  it('names every option, its environment variable and its flag', () => {
    const doc = renderConfigurationDoc();
    for (const spec of OPTIONS) {
      expect(doc).toContain(spec.env);
      if (!spec.envOnly) expect(doc).toContain(`--${spec.flag}`);
    }
  });
});
