/** Servers: the list with live statuses, creation, and the power actions. */
import { useState } from 'preact/hooks';
import { del, type Obj, post } from '../api';
import { Errors, ListTable, MIB, Section, Status, sure, useCollection, useRunner } from '../ui';

/** A VNC password for a new server (the API requires one; the console's bridge uses it). */
function randomPassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/** The actions a server in `status` allows, as CloudSigma's state machine does. */
export function actionsFor(status: unknown): string[] {
  switch (status) {
    case 'stopped':
      return ['start', 'clone'];
    case 'running':
      return ['stop', 'shutdown', 'restart', 'clone'];
    default:
      return [];
  }
}

const LABELS: Record<string, string> = {
  start: 'Start',
  stop: 'Stop',
  shutdown: 'Shut down',
  restart: 'Restart',
  clone: 'Clone',
};

export function ServerActions({ server }: { server: Obj }) {
  const { busy, error, run } = useRunner();
  const act = (action: string) =>
    void run(() => post(`/servers/${server.uuid}/action/?do=${action}`, {}));
  const remove = () => {
    if (sure(`Delete server ${String(server.name)}? Its drives stay.`)) {
      void run(() => del(`/servers/${server.uuid}/`));
    }
  };
  return (
    <span class="actions">
      {actionsFor(server.status).map((action) => (
        <button key={action} type="button" disabled={busy} onClick={() => act(action)}>
          {LABELS[action]}
        </button>
      ))}
      {server.status === 'stopped' ? (
        <button type="button" class="danger" disabled={busy} onClick={remove}>
          Delete
        </button>
      ) : null}
      <Errors error={error} />
    </span>
  );
}

function CreateServer() {
  const { busy, error, run } = useRunner();
  // Fields read with FormData take defaults, never `value`: a `value` would be written again over
  // what was typed each time the page renders (a list's frame arriving, say).
  const [password] = useState(randomPassword);
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void run(async () => {
      await post('/servers/', {
        objects: [
          {
            name: String(data.get('name')),
            cpu: Number(data.get('cpu')),
            mem: Number(data.get('mem')) * MIB,
            vnc_password: String(data.get('vnc_password')),
          },
        ],
      });
      form.reset();
      (form.elements.namedItem('vnc_password') as HTMLInputElement).value = randomPassword();
    });
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="Create a server">
      <label>
        Name <input name="name" required />
      </label>
      <label>
        CPU (MHz) <input name="cpu" type="number" min="1" defaultValue="1000" required />
      </label>
      <label>
        Memory (MiB) <input name="mem" type="number" min="1" defaultValue="512" required />
      </label>
      <label>
        VNC password <input name="vnc_password" defaultValue={password} required />
      </label>
      <button type="submit" disabled={busy}>
        Create server
      </button>
      <Errors error={error} />
    </form>
  );
}

export function ServersPage() {
  const servers = useCollection('/servers/detail/', 'servers');
  return (
    <Section title="Servers">
      <CreateServer />
      <ListTable
        label="Servers"
        columns={['Name', 'Status', 'CPU', 'Memory', 'Actions']}
        collection={servers}
        empty="No servers yet."
        row={(server) => (
          <tr key={server.uuid} data-uuid={server.uuid}>
            <td>
              <a href={`#/servers/${server.uuid}`}>{String(server.name)}</a>
            </td>
            <td>
              <Status value={server.status} />
            </td>
            <td>{String(server.cpu)} MHz</td>
            <td>{Math.round(Number(server.mem) / MIB)} MiB</td>
            <td>
              <ServerActions server={server} />
            </td>
          </tr>
        )}
      />
    </Section>
  );
}
