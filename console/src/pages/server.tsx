/**
 * One server: its definition (name, CPU, memory, VNC password, meta, drives, NICs) edited with a
 * PUT, its actions, and, while it runs, its screen and serial console.
 */
import { useEffect, useState } from 'preact/hooks';
import { get, type Obj, put, uuidOf } from '../api';
import { onFrame, onReconnect } from '../events';
import { Screen } from '../screen';
import { Serial } from '../serial';
import {
  Choice,
  Errors,
  MIB,
  type Option,
  Section,
  Status,
  useCollection,
  useRows,
  useRunner,
} from '../ui';
import { ServerActions } from './servers';

interface DriveRow {
  drive: string;
  device: string;
  dev_channel: string;
  boot_order: string;
}

interface NicRow {
  mac: string | null;
  model: string;
  conf: string;
  ip: string;
  vlan: string;
  firewall_policy: string;
}

const NIC_MODELS = ['virtio', 'e1000', 'rtl8139'];
const IPV4_CONFS: Option[] = [
  ['dhcp', 'DHCP'],
  ['static', 'static'],
  ['manual', 'manual'],
  ['none', 'none (VLAN only)'],
];

function driveRows(server: Obj): DriveRow[] {
  return ((server.drives as Obj[] | undefined) ?? []).map((d) => ({
    drive: uuidOf(d.drive) ?? '',
    device: String(d.device ?? 'virtio'),
    dev_channel: String(d.dev_channel ?? ''),
    boot_order: d.boot_order === null || d.boot_order === undefined ? '' : String(d.boot_order),
  }));
}

function nicRows(server: Obj): NicRow[] {
  return ((server.nics as Obj[] | undefined) ?? []).map((n) => {
    const conf = (n.ip_v4_conf ?? {}) as { conf?: string; ip?: unknown };
    return {
      mac: typeof n.mac === 'string' ? n.mac : null,
      model: String(n.model ?? 'virtio'),
      conf: conf.conf ?? (n.vlan ? 'none' : 'dhcp'),
      ip: uuidOf(conf.ip) ?? '',
      vlan: uuidOf(n.vlan) ?? '',
      firewall_policy: uuidOf(n.firewall_policy) ?? '',
    };
  });
}

function metaText(meta: unknown): string {
  if (!meta || typeof meta !== 'object') return '';
  return Object.entries(meta as Record<string, unknown>)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n');
}

function parseMeta(text: string): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const at = line.indexOf('=');
    if (at < 0) meta[line.trim()] = '';
    else meta[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return meta;
}

function nextChannel(rows: DriveRow[]): string {
  for (let controller = 0; controller < 4; controller++) {
    for (let unit = 0; unit < 4; unit++) {
      const channel = `${controller}:${unit}`;
      if (!rows.some((r) => r.dev_channel === channel)) return channel;
    }
  }
  return '';
}

function Editor({ server, onSaved }: { server: Obj; onSaved: () => void }) {
  const drives = useCollection('/drives/detail/', 'drives');
  const ips = useCollection('/ips/', 'ips');
  const vlans = useCollection('/vlans/detail/', 'vlans');
  const policies = useCollection('/fwpolicies/detail/', 'fwpolicies');
  const [name, setName] = useState(String(server.name ?? ''));
  const [cpu, setCpu] = useState(String(server.cpu ?? ''));
  const [mem, setMem] = useState(String(Math.round(Number(server.mem) / MIB)));
  const [smp, setSmp] = useState(String(server.smp ?? 1));
  const [password, setPassword] = useState(String(server.vnc_password ?? ''));
  const [meta, setMeta] = useState(metaText(server.meta));
  const drivesOf = useRows(driveRows(server));
  const nicsOf = useRows(nicRows(server));
  const rows = drivesOf.rows;
  const nics = nicsOf.rows;
  const { busy, error, run } = useRunner();

  // A drive the account cannot list (another account's, shared) stays choosable by its uuid.
  const driveOptions = (current: string): Option[] => [
    ['', '(choose a drive)'],
    ...(drives.items ?? []).map((d): Option => [d.uuid, `${String(d.name)} (${String(d.media)})`]),
    ...(current && !drives.items?.some((d) => d.uuid === current) ? [current] : []),
  ];
  const setRow = drivesOf.set;
  const setNic = nicsOf.set;

  const save = (event: Event) => {
    event.preventDefault();
    void run(async () => {
      await put(`/servers/${server.uuid}/`, {
        name,
        cpu: Number(cpu),
        mem: Number(mem) * MIB,
        smp: Number(smp),
        vnc_password: password,
        meta: parseMeta(meta),
        drives: rows.map((row) => ({
          drive: row.drive,
          device: row.device,
          dev_channel: row.dev_channel,
          boot_order: row.boot_order === '' ? null : Number(row.boot_order),
        })),
        nics: nics.map((nic) => ({
          ...(nic.mac ? { mac: nic.mac } : {}),
          model: nic.model,
          ip_v4_conf:
            nic.conf === 'none'
              ? null
              : { conf: nic.conf, ip: nic.conf === 'static' && nic.ip ? nic.ip : null },
          vlan: nic.vlan || null,
          firewall_policy: nic.firewall_policy || null,
        })),
      });
      onSaved();
    });
  };

  return (
    <form class="editor" onSubmit={save} aria-label="Edit server">
      <div class="grid">
        <label>
          Name <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <label>
          CPU (MHz)
          <input type="number" value={cpu} onInput={(e) => setCpu(e.currentTarget.value)} />
        </label>
        <label>
          Memory (MiB)
          <input type="number" value={mem} onInput={(e) => setMem(e.currentTarget.value)} />
        </label>
        <label>
          SMP
          <input type="number" value={smp} onInput={(e) => setSmp(e.currentTarget.value)} />
        </label>
        <label>
          VNC password
          <input value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label>
          Meta (key=value per line)
          <textarea rows={3} value={meta} onInput={(e) => setMeta(e.currentTarget.value)} />
        </label>
      </div>

      <h3>Drives</h3>
      <table class="list" aria-label="Attached drives">
        <tbody>
          {rows.map((row, i) => (
            <tr key={`${row.drive}-${i}`}>
              <td>
                <Choice
                  label="Drive"
                  value={row.drive}
                  options={driveOptions(row.drive)}
                  onChange={(drive) => setRow(i, { drive })}
                />
              </td>
              <td>
                <Choice
                  label="Device"
                  value={row.device}
                  options={['virtio', 'ide']}
                  onChange={(device) => setRow(i, { device })}
                />
              </td>
              <td>
                <input
                  aria-label="Channel"
                  size={4}
                  value={row.dev_channel}
                  onInput={(e) => setRow(i, { dev_channel: e.currentTarget.value })}
                />
              </td>
              <td>
                <input
                  aria-label="Boot order"
                  size={3}
                  value={row.boot_order}
                  onInput={(e) => setRow(i, { boot_order: e.currentTarget.value })}
                />
              </td>
              <td>
                <button type="button" onClick={() => drivesOf.remove(i)}>
                  Detach
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        onClick={() =>
          drivesOf.add({
            drive: '',
            device: 'virtio',
            dev_channel: nextChannel(rows),
            boot_order: '',
          })
        }
      >
        Attach a drive
      </button>

      <h3>Network interfaces</h3>
      <table class="list" aria-label="Network interfaces">
        <tbody>
          {nics.map((nic, i) => (
            <tr key={nic.mac ?? `new-${i}`}>
              <td>
                <code>{nic.mac ?? '(new)'}</code>
              </td>
              <td>
                <Choice
                  label="Model"
                  value={nic.model}
                  options={NIC_MODELS}
                  onChange={(model) => setNic(i, { model })}
                />
              </td>
              <td>
                <Choice
                  label="IPv4"
                  value={nic.conf}
                  options={IPV4_CONFS}
                  onChange={(conf) => setNic(i, { conf })}
                />
                {nic.conf === 'static' ? (
                  <Choice
                    label="IP address"
                    value={nic.ip}
                    options={[
                      ['', '(choose an IP)'],
                      ...(ips.items ?? []).map((o): Option => [o.uuid, o.uuid]),
                    ]}
                    onChange={(ip) => setNic(i, { ip })}
                  />
                ) : null}
              </td>
              <td>
                <Choice
                  label="VLAN"
                  value={nic.vlan}
                  options={[
                    ['', '(no VLAN)'],
                    ...(vlans.items ?? []).map(
                      (o): Option => [o.uuid, String((o.meta as Obj | undefined)?.name ?? o.uuid)],
                    ),
                  ]}
                  onChange={(vlan) => setNic(i, { vlan })}
                />
              </td>
              <td>
                <Choice
                  label="Firewall policy"
                  value={nic.firewall_policy}
                  options={[
                    ['', '(no firewall policy)'],
                    ...(policies.items ?? []).map((o): Option => [o.uuid, String(o.name)]),
                  ]}
                  onChange={(firewall_policy) => setNic(i, { firewall_policy })}
                />
              </td>
              <td>
                <button type="button" onClick={() => nicsOf.remove(i)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        onClick={() =>
          nicsOf.add({
            mac: null,
            model: 'virtio',
            conf: 'dhcp',
            ip: '',
            vlan: '',
            firewall_policy: '',
          })
        }
      >
        Add a network interface
      </button>

      <p class="save">
        <button type="submit" disabled={busy}>
          Save
        </button>
        {server.status !== 'stopped' ? (
          <span class="hint">While the server is not stopped only its name and meta change.</span>
        ) : null}
      </p>
      <Errors error={error} />
    </form>
  );
}

export function ServerPage({ uuid }: { uuid: string }) {
  const [server, setServer] = useState<Obj | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tab, setTab] = useState<'definition' | 'screen' | 'serial'>('definition');
  // Said beside the editor, which starts afresh once the saved definition comes back.
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    let live = true;
    const stop = onFrame((frame) => {
      if (frame.resource_type !== 'servers' || uuidOf(frame.resource_uri) !== uuid) return;
      if (frame.object) setServer(frame.object);
      else setError(new Error('This server was deleted.'));
    });
    const read = () =>
      get<Obj>(`/servers/${uuid}/`).then(
        (s) => live && setServer(s),
        (e: unknown) => live && setError(e),
      );
    // Frames missed while the stream was down: the server is read again once it is back.
    const stopReconnect = onReconnect(() => void read());
    void read();
    return () => {
      live = false;
      stop();
      stopReconnect();
    };
  }, [uuid]);

  if (!server) return <Errors error={error} />;
  const running = server.status === 'running';
  // The editor starts afresh from the stored definition after each save or outside change.
  const version = JSON.stringify([
    server.status,
    server.name,
    server.cpu,
    server.mem,
    server.smp,
    server.vnc_password,
    server.meta,
    server.drives,
    server.nics,
  ]);
  return (
    <Section
      title={String(server.name)}
      actions={
        <span class="head-status">
          <Status value={server.status} /> <ServerActions server={server} />
        </span>
      }
    >
      <Errors error={error} />
      <p class="uuid">
        <a href="#/servers">Servers</a> / <code>{server.uuid}</code>
      </p>
      <div class="tabs" role="tablist">
        {(['definition', 'screen', 'serial'] as const).map((name) => (
          <button
            key={name}
            type="button"
            role="tab"
            aria-selected={tab === name}
            disabled={name !== 'definition' && !running}
            onClick={() => {
              setTab(name);
              setSaved(false);
            }}
          >
            {name === 'definition' ? 'Definition' : name === 'screen' ? 'Screen' : 'Serial console'}
          </button>
        ))}
      </div>
      {tab === 'definition' || !running ? (
        <>
          {saved ? <p role="status">Saved.</p> : null}
          <Editor key={version} server={server} onSaved={() => setSaved(true)} />
        </>
      ) : null}
      {tab === 'screen' && running ? <Screen server={uuid} /> : null}
      {tab === 'serial' && running ? <Serial server={uuid} /> : null}
    </Section>
  );
}
