/** Firewall policies: a name and ordered rules, created, edited and deleted. */
import { useState } from 'preact/hooks';
import { del, type Obj, post, put } from '../api';
import { Choice, Empty, Errors, Section, sure, useCollection, useRows, useRunner } from '../ui';

interface Rule {
  action: string;
  direction: string;
  ip_proto: string;
  src_ip: string;
  src_port: string;
  dst_ip: string;
  dst_port: string;
  comment: string;
}

const EMPTY_RULE: Rule = {
  action: 'accept',
  direction: 'in',
  ip_proto: 'tcp',
  src_ip: '',
  src_port: '',
  dst_ip: '',
  dst_port: '',
  comment: '',
};

const TEXT_FIELDS = ['src_ip', 'src_port', 'dst_ip', 'dst_port', 'comment'] as const;

function rulesOf(policy: Obj | undefined): Rule[] {
  return ((policy?.rules as Record<string, unknown>[] | undefined) ?? []).map((rule) => {
    const out = { ...EMPTY_RULE };
    for (const key of Object.keys(out) as (keyof Rule)[]) {
      const value = rule[key];
      out[key] = value === null || value === undefined ? '' : String(value);
    }
    return out;
  });
}

function PolicyForm({ policy, onDone }: { policy?: Obj; onDone: () => void }) {
  const [name, setName] = useState(String(policy?.name ?? ''));
  const ruleList = useRows<Rule>(rulesOf(policy));
  const rules = ruleList.rows;
  const { busy, error, run } = useRunner();
  const setRule = ruleList.set;
  const save = (event: Event) => {
    event.preventDefault();
    const body = {
      name,
      rules: rules.map((rule) => {
        const out: Record<string, string | null> = {
          action: rule.action,
          direction: rule.direction,
          ip_proto: rule.ip_proto || null,
        };
        for (const key of TEXT_FIELDS) out[key] = rule[key] === '' ? null : rule[key];
        return out;
      }),
    };
    void run(async () => {
      if (policy) await put(`/fwpolicies/${policy.uuid}/`, body);
      else await post('/fwpolicies/', { objects: [body] });
      onDone();
    });
  };
  return (
    <form class="editor" onSubmit={save} aria-label={policy ? 'Edit policy' : 'Create a policy'}>
      <label>
        Name <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <table class="list" aria-label="Rules">
        <thead>
          <tr>
            <th>Action</th>
            <th>Direction</th>
            <th>Protocol</th>
            <th>Source IP</th>
            <th>Source port</th>
            <th>Destination IP</th>
            <th>Destination port</th>
            <th>Comment</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rules.map((rule, i) => (
            <tr key={i}>
              <td>
                <Choice
                  label="Action"
                  value={rule.action}
                  options={['accept', 'drop']}
                  onChange={(action) => setRule(i, { action })}
                />
              </td>
              <td>
                <Choice
                  label="Direction"
                  value={rule.direction}
                  options={['in', 'out', 'both']}
                  onChange={(direction) => setRule(i, { direction })}
                />
              </td>
              <td>
                <Choice
                  label="Protocol"
                  value={rule.ip_proto}
                  options={['tcp', 'udp', ['', 'any']]}
                  onChange={(ip_proto) => setRule(i, { ip_proto })}
                />
              </td>
              {TEXT_FIELDS.map((key) => (
                <td key={key}>
                  <input
                    aria-label={key}
                    size={key === 'comment' ? 14 : 9}
                    value={rule[key]}
                    onInput={(e) => setRule(i, { [key]: e.currentTarget.value })}
                  />
                </td>
              ))}
              <td>
                <button type="button" onClick={() => ruleList.remove(i)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <button type="button" onClick={() => ruleList.add({ ...EMPTY_RULE })}>
          Add a rule
        </button>{' '}
        <button type="submit" disabled={busy}>
          {policy ? 'Save policy' : 'Create policy'}
        </button>{' '}
        {policy ? (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        ) : null}
      </p>
      <Errors error={error} />
    </form>
  );
}

export function FirewallPage() {
  const policies = useCollection('/fwpolicies/detail/', 'fwpolicies');
  const [editing, setEditing] = useState<string | undefined>();
  const [creating, setCreating] = useState(0);
  const { busy, error, run } = useRunner();
  const remove = (policy: Obj) => {
    if (sure(`Delete policy ${String(policy.name)}?`)) {
      void run(() => del(`/fwpolicies/${policy.uuid}/`));
    }
  };
  return (
    <Section title="Firewall policies">
      <PolicyForm key={`new-${creating}`} onDone={() => setCreating((n) => n + 1)} />
      <Errors error={policies.error} />
      <Errors error={error} />
      {policies.items?.length === 0 ? <Empty>No firewall policies yet.</Empty> : null}
      {policies.items?.map((policy) =>
        editing === policy.uuid ? (
          <PolicyForm key={policy.uuid} policy={policy} onDone={() => setEditing(undefined)} />
        ) : (
          <article key={policy.uuid} class="policy" data-uuid={policy.uuid}>
            <h3>{String(policy.name)}</h3>
            <p>
              {((policy.rules as unknown[]) ?? []).length} rules, on{' '}
              {((policy.servers as unknown[]) ?? []).length} servers{' '}
              <button type="button" onClick={() => setEditing(policy.uuid)}>
                Edit
              </button>{' '}
              <button type="button" class="danger" disabled={busy} onClick={() => remove(policy)}>
                Delete
              </button>
            </p>
          </article>
        ),
      )}
    </Section>
  );
}
