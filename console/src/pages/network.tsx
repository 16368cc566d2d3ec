/** IPs and VLANs: what the account subscribed to, their names (meta), and buying more. */
import { useState } from 'preact/hooks';
import { type Obj, post, put, uuidOf } from '../api';
import { Errors, ListTable, Section, useCollection, useRunner } from '../ui';

function Buy({ resource, label }: { resource: 'ip' | 'vlan'; label: string }) {
  const { busy, error, run } = useRunner();
  const buy = () =>
    void run(() =>
      post('/subscriptions/', { objects: [{ resource, amount: 1, period: '1 month' }] }),
    );
  return (
    <span>
      <button type="button" disabled={busy} onClick={buy}>
        {label}
      </button>
      <Errors error={error} />
    </span>
  );
}

/** The `meta.name` of an IP or VLAN, edited in place. */
function MetaName({ path, object }: { path: string; object: Obj }) {
  const meta = (object.meta as Record<string, string> | undefined) ?? {};
  const [name, setName] = useState(meta.name ?? '');
  const { busy, error, run } = useRunner();
  const save = (event: Event) => {
    event.preventDefault();
    void run(() => put(`${path}${object.uuid}/`, { meta: { ...meta, name } }));
  };
  return (
    <form class="cell-form" onSubmit={save}>
      <input
        aria-label={`Name of ${object.uuid}`}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <button type="submit" disabled={busy}>
        Rename
      </button>
      <Errors error={error} />
    </form>
  );
}

export function NetworkPage() {
  const ips = useCollection('/ips/detail/', 'ips');
  const vlans = useCollection('/vlans/detail/', 'vlans');
  return (
    <>
      <Section title="IPs" actions={<Buy resource="ip" label="Subscribe to an IP" />}>
        <ListTable
          label="IPs"
          columns={['Address', 'Name', 'Netmask', 'Gateway', 'Server']}
          collection={ips}
          empty="No IPs."
          row={(ip) => {
            const server = uuidOf(ip.server);
            return (
              <tr key={ip.uuid} data-uuid={ip.uuid}>
                <td>
                  <code>{ip.uuid}</code>
                </td>
                <td>
                  <MetaName path="/ips/" object={ip} />
                </td>
                <td>{ip.netmask === null ? '' : `/${String(ip.netmask)}`}</td>
                <td>{String(ip.gateway ?? '')}</td>
                <td>{server ? <a href={`#/servers/${server}`}>{server.slice(0, 8)}</a> : ''}</td>
              </tr>
            );
          }}
        />
      </Section>
      <Section title="VLANs" actions={<Buy resource="vlan" label="Subscribe to a VLAN" />}>
        <ListTable
          label="VLANs"
          columns={['UUID', 'Name', 'Servers']}
          collection={vlans}
          empty="No VLANs."
          row={(vlan) => (
            <tr key={vlan.uuid} data-uuid={vlan.uuid}>
              <td>
                <code>{vlan.uuid}</code>
              </td>
              <td>
                <MetaName path="/vlans/" object={vlan} />
              </td>
              <td>{((vlan.servers as unknown[]) ?? []).length}</td>
            </tr>
          )}
        />
      </Section>
    </>
  );
}
