/**
 * `sigmalite serve --seed-file` on the built CLI: progress as plain lines on stderr (no terminal),
 * no generated admin when the file brings accounts, and a bad file refused with exit code 2.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get, killAll, lines, runCli, startServer } from '../cli/process.js';
import { TEST_STORE } from '../support/stores.js';
import { removeSeedFiles, seedFile } from './support.js';

afterEach(killAll, 30_000);
afterAll(removeSeedFiles);

const SEED = {
  accounts: [
    {
      email: 'team@example.com',
      password: 'team-secret',
      drives: [
        { name: 'one', size: 1073741824, media: 'disk' },
        { name: 'two', size: 1073741824, media: 'disk' },
      ],
    },
  ],
};

// The CLI runs on SQLite in memory whichever store the suite tests: once is enough.
describe.skipIf(TEST_STORE === 'postgres')('sigmalite serve --seed-file', () => {
  it('seeds before listening, with progress lines on stderr and no generated admin', async () => {
    const server = await startServer(['--memory', '--port', '0', '--seed-file', seedFile(SEED)]);
    expect(lines(server.stdout())).toEqual([expect.stringMatching(/^sigmalite listening on /)]);
    expect(server.stderr()).toMatch(/^seeding: 1\/3\b/m);
    expect(server.stderr()).toMatch(/^seeding: 3\/3\b/m);
    const res = await get(server, '/api/2.0/drives/', ['team@example.com', 'team-secret']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).meta.total_count).toBe(2);
    expect(await server.stop()).toBe(0);
  });

  it('refuses a bad file with a message naming the entry and the field, exit code 2', async () => {
    const bad = structuredClone(SEED);
    (bad.accounts[0]!.drives[1] as Record<string, unknown>).media = 'floppy';
    const file = seedFile(bad);
    const result = await runCli(['serve', '--memory', '--port', '0', '--seed-file', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      `sigmalite: --seed-file ${file}: accounts.0.drives.1 ("two"): "media": `,
    );
  });
});
