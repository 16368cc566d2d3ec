/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against a real
 * sigmalite on port 0: log in, create a server and watch it reach `running` without a reload,
 * its screen drawn by noVNC, its serial console answering what is typed, every page, logout, and
 * a second account that sees none of the first's servers. The page may request nothing from
 * another origin and must log no error. Each page's screenshot is kept in test-artifacts/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { createServer } from '../support/api.js';
import { ALICE, BOB, startTestApp, type TestApp, type User } from '../support/app.js';
import { type Browser, launchBrowser, screenshot } from '../support/browser.js';

/** How long the page may take to show a change (CI's machine can be very busy). */
const WAIT_MS = 30_000;

let t: TestApp;
let browser: Browser;
let page: Page;
/** Files the page uploads. */
let scratch: string;
/** What the page did wrong: requests elsewhere, errors it logged or threw. */
const problems: string[] = [];

beforeAll(async () => {
  t = await startTestApp({ settle: false, transitions: 'fast' });
  scratch = mkdtempSync(join(tmpdir(), 'sigmalite-upload-'));
  browser = await launchBrowser();
  page = await browser.context.newPage();
  // Generous, since CI's two cores are shared with QEMU guests and other suites (a wait is not a
  // measure of speed), and below the tests' own timeout so that a wait that fails says what it
  // waited for.
  page.setDefaultTimeout(WAIT_MS);
  page.on('dialog', (dialog) => void dialog.accept());
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused API requests are the browser's to log ("Failed to load resource"); the page shows
    // their errors, which the tests check.
    const text = message.text();
    if (message.type() === 'error' && !text.startsWith('Failed to load resource')) {
      problems.push(`console error: ${text}`);
    }
  });
  page.on('request', (request) => {
    const url = new URL(request.url());
    const local = url.host === new URL(t.origin).host;
    if (!local && url.protocol !== 'data:') problems.push(`request elsewhere: ${request.url()}`);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function logIn(user: User): Promise<void> {
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
}

/** What the test reads of a canvas (the tests compile without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  } | null;
}

function serverRow(name: string) {
  return page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
}

describe('the web console', { timeout: 4 * WAIT_MS }, () => {
  beforeEach(() => {
    // What a failed wait cannot say: what the page showed, and whether its event stream was open.
    onTestFailed(async ({ task }) => {
      const name = `failed-${task.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      await screenshot(page, name).catch(() => {});
      const events = await page
        .evaluate(
          () =>
            (globalThis as { document?: { documentElement: { dataset: Record<string, string> } } })
              .document?.documentElement.dataset.events,
        )
        .catch((e: unknown) => String(e));
      const shown = await page
        .locator('main')
        .ariaSnapshot({ timeout: 2000 })
        .catch((e: unknown) => String(e));
      console.log(`${task.name}: the page showed:\n${shown.slice(0, 4000)}`);
      console.log(
        `${task.name}: event stream ${events}; screenshot ${name}.png; problems:`,
        problems,
      );
    });
  });

  it('logs in with the API session', async () => {
    await page.goto(`${t.origin}/console/`);
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    await screenshot(page, 'login');
    // A wrong password: the API's words, no browser dialog.
    await page.getByLabel('Email').fill(ALICE.email);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toContain('Wrong username or password');
    problems.length = 0; // The refused login's 401 is logged by the browser.
    await logIn(ALICE);
    await page.getByRole('heading', { name: 'Servers' }).waitFor();
  });

  it('creates a server, starts it, and sees running arrive without a reload', async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const form = page.getByRole('form', { name: 'Create a server' });
    await form.getByLabel('Name').fill('web-01');
    await form.getByRole('button', { name: 'Create server' }).click();
    const row = serverRow('web-01');
    await row.getByText('stopped', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Start' }).click();
    await row.locator('[data-status="running"]').waitFor();
    expect(await row.locator('[data-status]').textContent()).toBe('running');
    expect(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);
    await screenshot(page, 'servers');
  });

  it("opens the server's screen and sees it drawn", async () => {
    await page.getByRole('link', { name: 'web-01', exact: true }).click();
    await page.getByRole('tab', { name: 'Screen' }).click();
    await page.locator('[data-state="connected"]').waitFor();
    const canvas = page.locator('.screen canvas');
    await canvas.waitFor();
    await expect
      .poll(
        () =>
          canvas.evaluate((element) => {
            const c = element as unknown as Canvas;
            const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
            if (!data) return 0;
            const colours = new Set<number>();
            for (let i = 0; i < data.length; i += 4 * 97) {
              colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
            }
            return colours.size;
          }),
        { timeout: WAIT_MS },
      )
      .toBeGreaterThan(4);
    await screenshot(page, 'screen');
  });

  it("shows why when the server's screen refuses the bridge", async () => {
    // The tunnel is opened with another password than the one the bridge then sends.
    const real = t.app.engine.openVnc.bind(t.app.engine);
    t.app.engine.openVnc = (uuid, _password, name, account) =>
      real(uuid, 'not-the-password', name, account);
    const logged = problems.length;
    try {
      await page.getByRole('tab', { name: 'Definition' }).click();
      await page.getByRole('tab', { name: 'Screen' }).click();
      const alert = page.locator('.screen-panel').getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toContain('the VNC server refused the password');
      await page.locator('.screen-panel [data-state="disconnected"]').waitFor();
      // noVNC logs the refusal it was told of; nothing else may be logged meanwhile.
      const refusal = /^console error: Failed when connecting: .*refused the password/;
      expect(problems.slice(logged).filter((p) => !refusal.test(p))).toEqual([]);
      problems.length = logged;
    } finally {
      t.app.engine.openVnc = real;
    }
    await page.getByRole('button', { name: 'Reconnect' }).click();
    await page.locator('.screen-panel [data-state="connected"]').waitFor();
  });

  it('types into the serial console and sees the answer', async () => {
    await page.getByRole('tab', { name: 'Serial console' }).click();
    await page.locator('.serial-panel [data-state="connected"]').waitFor();
    await page.locator('.serial .xterm-rows').getByText('sigmalite console for web-01').waitFor();
    await page.locator('.serial .xterm').click();
    await page.keyboard.type('hello');
    await page.keyboard.press('Enter');
    await page.locator('.serial .xterm-rows').getByText('> hello').waitFor();
    await screenshot(page, 'serial');
  });

  it("edits the server's definition and shows the API's refusals in its words", async () => {
    await page.getByRole('tab', { name: 'Definition' }).click();
    const editor = page.getByRole('form', { name: 'Edit server' });
    await editor.getByLabel('Meta (key=value per line)').fill('role=web');
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    const uuid = page.url().split('/').pop()!;
    expect((await t.alice.get(`/servers/${uuid}/`)).json.meta).toEqual({ role: 'web' });
    await screenshot(page, 'server');

    // A server the API refuses: the message the API gives, word for word.
    await page.getByRole('link', { name: 'Servers', exact: true }).first().click();
    const form = page.getByRole('form', { name: 'Create a server' });
    await form.getByLabel('Name').fill('too-small');
    await form.getByLabel('CPU (MHz)').fill('1');
    await form.getByRole('button', { name: 'Create server' }).click();
    const api = await t.alice.post('/servers/', {
      objects: [{ name: 'too-small', cpu: 1, mem: 512 * 1024 ** 2, vnc_password: 'x' }],
    });
    expect(api.status).toBe(400);
    const alert = form.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe(
      `${api.json[0].error_point}${api.json[0].error_message}`,
    );
    expect(await alert.locator('.point').textContent()).toBe('cpu');
  });

  it('manages drives: create, resize, clone', async () => {
    await page.getByRole('link', { name: 'Drives' }).click();
    const form = page.getByRole('form', { name: 'Create a drive' });
    await form.getByLabel('Name').fill('data-01');
    await form.getByLabel('Size (GiB)').fill('2');
    // The page renders again while the form is being filled (a frame of another drive): what
    // was typed stays (a field rendered with `value` was reset to its default, as CI once saw).
    await t.alice.post('/drives/', {
      objects: [{ name: 'meanwhile', size: 1024 ** 3, media: 'disk' }],
    });
    await page.getByRole('row').filter({ hasText: 'meanwhile' }).first().waitFor();
    await form.getByRole('button', { name: 'Create drive' }).click();
    const row = page.getByRole('row').filter({ hasText: 'data-01' }).first();
    await row.locator('[data-status="unmounted"]').waitFor();
    await row.getByLabel('New size of data-01 (GiB)').fill('3');
    await row.getByRole('button', { name: 'Resize' }).click();
    await row.getByText('3 GiB').waitFor();
    await row.locator('[data-status="unmounted"]').waitFor();
    await row.getByRole('button', { name: 'Clone' }).click();
    // The clone keeps the name (as CloudSigma's default clone naming does).
    const copies = page.getByRole('row').filter({ hasText: 'data-01' });
    await expect.poll(() => copies.count()).toBe(2);
    await page.locator('[data-status="cloning_dst"]').waitFor({ state: 'detached' });
    await screenshot(page, 'drives');
  });

  it('uploads an image with a progress bar that reaches 100%', async () => {
    // Through sigmalite's routes (POST /initupload/, GET|POST /drives/{uuid}/upload/): the
    // drive ends unmounted, of the file's exact size, and downloads as the file.
    const image = join(scratch, 'tiny.img');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    bytes.write('sigmalite upload', 1000);
    writeFileSync(image, bytes);
    const form = page.getByRole('form', { name: 'Upload an image' });
    await form.getByLabel('Image file').setInputFiles(image);
    await form.getByLabel('Name').fill('uploaded');
    await form.getByRole('button', { name: 'Upload' }).click();
    await form.locator('[data-percent="100"]').waitFor({ timeout: 2 * WAIT_MS });
    await form.getByRole('status').waitFor();
    const bar = form.getByLabel('Upload progress');
    const value = (element: unknown) => (element as { value: number }).value;
    expect(await bar.evaluate(value)).toBe(bytes.length);
    await page.getByRole('row').filter({ hasText: 'uploaded' }).first().waitFor();
    const drives = await t.alice.get('/drives/detail/?name=uploaded');
    expect(drives.json.objects).toHaveLength(1);
    const drive = drives.json.objects[0];
    expect(drive).toMatchObject({ status: 'unmounted', size: bytes.length, media: 'disk' });
    const down = await fetch(`${t.origin}/api/2.0/drives/${drive.uuid}/download/`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`,
      },
    });
    expect(Buffer.from(await down.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('speaks the resumable upload protocol of issue 15 (its routes faked in the browser)', async () => {
    // Until the routes exist, the page's side of the protocol is checked against answers the
    // browser fakes: initupload with the file's exact size, chunk N at (N-1) x 5 MiB with the
    // remainder in the last, a GET before each POST (a 2xx means the server has the chunk),
    // multipart fields as pycloudsigma sends them, and the bar at 100% once every chunk is in.
    const chunk = 5 * 1024 * 1024;
    const size = 2 * chunk + chunk / 5 + 5;
    const content = Buffer.alloc(size);
    for (let i = 0; i < size; i++) content[i] = (i * 31 + (i >> 13)) & 0xff;
    const image = join(scratch, 'protocol.img');
    writeFileSync(image, content);
    const drive = '11111111-2222-4333-8444-555555555555';
    const created: unknown[] = [];
    const asked: string[] = [];
    const posted = new Map<string, { fields: Record<string, string>; file: Buffer }>();
    await page.route('**/api/2.0/initupload/', async (route) => {
      created.push(route.request().postDataJSON());
      await route.fulfill({
        status: 201,
        contentType: 'application/json',
        body: JSON.stringify({ objects: [{ uuid: drive, status: 'uploading', size }] }),
      });
    });
    await page.route(`**/api/2.0/drives/${drive}/upload/**`, async (route) => {
      const request = route.request();
      if (request.method() === 'GET') {
        const number = new URL(request.url()).searchParams.get('resumableChunkNumber')!;
        asked.push(number);
        // The server already has chunk 1.
        await route.fulfill({ status: number === '1' ? 200 : 404, body: '' });
        return;
      }
      const parts = multipart(request.headers()['content-type']!, request.postDataBuffer()!);
      posted.set(parts.fields.resumableChunkNumber!, parts);
      await route.fulfill({ status: 200, body: '' });
    });
    try {
      await page.getByRole('link', { name: 'Drives' }).click();
      const form = page.getByRole('form', { name: 'Upload an image' });
      await form.getByLabel('Image file').setInputFiles(image);
      await form.getByLabel('Name').fill('protocol');
      await form.getByRole('button', { name: 'Upload' }).click();
      await form.getByRole('status').waitFor();
      expect(await form.locator('[data-percent]').textContent()).toBe('100%');
      const bar = form.getByLabel('Upload progress');
      const progress = (element: unknown) => {
        const { value, max } = element as { value: number; max: number };
        return { value, max };
      };
      expect(await bar.evaluate(progress)).toEqual({ value: size, max: size });
      expect(created).toEqual([{ objects: [{ name: 'protocol', media: 'disk', size }] }]);
      expect(asked.sort()).toEqual(['1', '2']);
      expect([...posted.keys()]).toEqual(['2']);
      const second = posted.get('2')!;
      expect(second.fields).toEqual({
        resumableChunkNumber: '2',
        resumableChunkSize: String(chunk),
        resumableTotalSize: String(size),
        resumableIdentifier: 'protocol.img',
        resumableFilename: 'protocol.img',
      });
      expect(second.file.equals(content.subarray(chunk))).toBe(true);
      await screenshot(page, 'upload');
    } finally {
      await page.unroute('**/api/2.0/initupload/');
      await page.unroute(`**/api/2.0/drives/${drive}/upload/**`);
    }
  });

  it('clones a library drive', async () => {
    await page.getByRole('link', { name: 'Library' }).click();
    const first = page.getByRole('row').nth(1);
    await first.getByRole('button', { name: 'Clone to my drives' }).click();
    await first.getByRole('status').waitFor();
    await screenshot(page, 'library');
  });

  it('subscribes to an IP and a VLAN and names the VLAN', async () => {
    await page.getByRole('link', { name: 'IPs and VLANs' }).click();
    await page.getByRole('button', { name: 'Subscribe to an IP' }).click();
    await page.getByRole('table', { name: 'IPs' }).getByRole('row').nth(1).waitFor();
    await page.getByRole('button', { name: 'Subscribe to a VLAN' }).click();
    const vlans = page.getByRole('table', { name: 'VLANs' });
    const vlan = vlans.getByRole('row').nth(1);
    await vlan.waitFor();
    await vlan.getByRole('textbox').fill('backend');
    await vlan.getByRole('button', { name: 'Rename' }).click();
    await expect
      .poll(async () => (await t.alice.get('/vlans/detail/')).json.objects[0]?.meta?.name)
      .toBe('backend');
    await screenshot(page, 'network');
  });

  it('creates and renames a tag', async () => {
    await page.getByRole('link', { name: 'Tags' }).click();
    const form = page.getByRole('form', { name: 'Create a tag' });
    await form.getByLabel('Name').fill('production');
    await form.getByRole('button', { name: 'Create tag' }).click();
    const name = page.getByLabel('Name of tag production');
    await name.fill('prod');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Name of tag prod').waitFor();
    await screenshot(page, 'tags');
  });

  it('generates a keypair and shows its private key', async () => {
    await page.getByRole('link', { name: 'Keypairs' }).click();
    const form = page.getByRole('form', { name: 'Add a keypair' });
    await form.getByLabel('Name').fill('laptop');
    await form.getByLabel('Algorithm').selectOption('ed25519');
    await form.getByRole('button', { name: 'Add keypair' }).click();
    await page.getByRole('status').locator('pre').getByText('PRIVATE KEY').waitFor();
    await page.getByRole('row').filter({ hasText: 'laptop' }).waitFor();
    await screenshot(page, 'keypairs');
  });

  it('creates a firewall policy with a rule', async () => {
    await page.getByRole('link', { name: 'Firewall policies' }).click();
    const form = page.getByRole('form', { name: 'Create a policy' });
    await form.getByLabel('Name').fill('web only');
    await form.getByRole('button', { name: 'Add a rule' }).click();
    await form.getByLabel('dst_port').fill('443');
    await form.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('heading', { name: 'web only' }).waitFor();
    const policy = (await t.alice.get('/fwpolicies/detail/')).json.objects[0];
    expect(policy.rules).toMatchObject([{ action: 'accept', direction: 'in', dst_port: '443' }]);
    await screenshot(page, 'firewall');
  });

  it("shows the account's audit log", async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    const log = page.getByRole('table', { name: 'Audit log' });
    await log.getByRole('cell', { name: 'start_send', exact: true }).first().waitFor();
    await log.getByRole('cell', { name: 'boot', exact: true }).first().waitFor();
    await screenshot(page, 'logs');
  });

  it('can be used from the keyboard alone', async () => {
    await page.getByRole('link', { name: 'Servers' }).click();
    await page.locator('body').focus();
    const focused = () =>
      page.evaluate(() => {
        const element = (globalThis as unknown as { document: { activeElement: unknown } }).document
          .activeElement as { textContent?: string; tagName?: string } | null;
        return `${element?.tagName ?? ''} ${element?.textContent?.trim() ?? ''}`;
      });
    // Tab reaches the navigation; Enter follows a link.
    for (let i = 0; i < 20 && (await focused()) !== 'A Drives'; i++)
      await page.keyboard.press('Tab');
    expect(await focused()).toBe('A Drives');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Drives' }).waitFor();
    // And on into the page's form: the first field of "Create a drive".
    for (let i = 0; i < 20 && !(await focused()).startsWith('INPUT'); i++) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.type('from-keys');
    for (let i = 0; i < 5 && (await focused()) !== 'BUTTON Create drive'; i++) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.getByRole('row').filter({ hasText: 'from-keys' }).waitFor();
  });

  it("logs out, and a second account sees none of the first's servers", async () => {
    const alices = (await t.alice.get('/servers/')).json.objects as { uuid: string }[];
    expect(alices.length).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    // The session is gone for the API too.
    const cookies = await browser.context.cookies(t.origin);
    expect(cookies.find((c) => c.name === 'sessionid')).toBeUndefined();

    await logIn(BOB);
    await page.getByRole('link', { name: 'Servers' }).click();
    await page.getByRole('heading', { name: 'Servers' }).waitFor();
    await page.getByText('No servers yet.').waitFor();
    await createServer(t.bob, { name: 'bobs-own' });
    await serverRow('bobs-own').waitFor();
    expect(await page.getByRole('link', { name: 'web-01' }).count()).toBe(0);
    // Alice's server by its address: the API's 404, in its words.
    await page.goto(`${t.origin}/console/#/servers/${alices[0]!.uuid}`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain(alices[0]!.uuid);
    expect((await t.bob.get(`/servers/${alices[0]!.uuid}/`)).status).toBe(404);
  });

  it('requested nothing from another origin and logged no error', () => {
    expect(problems).toEqual([]);
  });
});

/** The fields and the `file` part of a multipart/form-data body. */
function multipart(
  contentType: string,
  body: Buffer,
): { fields: Record<string, string>; file: Buffer } {
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`not multipart: ${contentType}`);
  const fields: Record<string, string> = {};
  let file = Buffer.alloc(0);
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    const part = body.subarray(at + delimiter.length + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString();
    const value = part.subarray(split + 4);
    const name = /name="([^"]+)"/.exec(head)?.[1] ?? '';
    if (name === 'file') file = Buffer.from(value);
    else fields[name] = value.toString();
    at = next;
  }
  return { fields, file };
}
