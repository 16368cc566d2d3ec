/** Keypairs: import a public key or have one generated; fingerprints; deletion. */
import { useState } from 'preact/hooks';
import { del, type Obj, post } from '../api';
import { Choice, Errors, ListTable, Section, sure, useCollection, useRunner } from '../ui';

export function KeypairsPage() {
  const keypairs = useCollection('/keypairs/', 'keypairs');
  const { busy, error, run } = useRunner();
  const [generated, setGenerated] = useState<Obj | undefined>();
  const create = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const publicKey = String(data.get('public_key')).trim();
    void run(async () => {
      const body = publicKey
        ? { name: String(data.get('name')), public_key: publicKey }
        : { name: String(data.get('name')), algorithm_type: String(data.get('algorithm')) };
      const answer = await post<{ objects: Obj[] }>('/keypairs/', { objects: [body] });
      setGenerated(publicKey ? undefined : answer.objects[0]);
      form.reset();
    });
  };
  const remove = (keypair: Obj) => {
    if (sure(`Delete keypair ${String(keypair.name)}?`)) {
      void run(() => del(`/keypairs/${keypair.uuid}/`));
    }
  };
  return (
    <Section title="Keypairs">
      <form class="inline" onSubmit={create} aria-label="Add a keypair">
        <label>
          Name <input name="name" required />
        </label>
        <label class="wide">
          Public key (empty: generate a pair)
          <textarea name="public_key" rows={2} placeholder="ssh-ed25519 AAAA..." />
        </label>
        <Choice label="Algorithm" name="algorithm" options={['ed25519', 'rsa']} />
        <button type="submit" disabled={busy}>
          Add keypair
        </button>
        <Errors error={error} />
      </form>
      {generated?.private_key ? (
        <div class="generated" role="status">
          <p>The generated private key of {String(generated.name)} (the keypair keeps it too):</p>
          <pre>{String(generated.private_key)}</pre>
        </div>
      ) : null}
      <ListTable
        label="Keypairs"
        columns={['Name', 'Fingerprint', 'Actions']}
        collection={keypairs}
        empty="No keypairs yet."
        row={(keypair) => (
          <tr key={keypair.uuid} data-uuid={keypair.uuid}>
            <td>{String(keypair.name)}</td>
            <td>
              <code>{String(keypair.fingerprint ?? '')}</code>
            </td>
            <td class="actions">
              <button type="button" class="danger" disabled={busy} onClick={() => remove(keypair)}>
                Delete
              </button>
            </td>
          </tr>
        )}
      />
    </Section>
  );
}
