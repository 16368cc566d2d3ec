/** Tags: create, rename, delete; how many resources carry each. */
import { useState } from 'preact/hooks';
import { del, type Obj, post, put } from '../api';
import { Errors, ListTable, Section, sure, useCollection, useRunner } from '../ui';

function TagRow({ tag }: { tag: Obj }) {
  const [name, setName] = useState(String(tag.name ?? ''));
  const { busy, error, run } = useRunner();
  const rename = (event: Event) => {
    event.preventDefault();
    void run(() => put(`/tags/${tag.uuid}/`, { name }));
  };
  const remove = () => {
    if (sure(`Delete tag ${String(tag.name)}?`)) void run(() => del(`/tags/${tag.uuid}/`));
  };
  return (
    <tr data-uuid={tag.uuid}>
      <td>
        <form class="cell-form" onSubmit={rename}>
          <input
            aria-label={`Name of tag ${String(tag.name)}`}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <button type="submit" disabled={busy}>
            Rename
          </button>
        </form>
      </td>
      <td>{((tag.resources as unknown[]) ?? []).length}</td>
      <td class="actions">
        <button type="button" class="danger" disabled={busy} onClick={remove}>
          Delete
        </button>
        <Errors error={error} />
      </td>
    </tr>
  );
}

export function TagsPage() {
  const tags = useCollection('/tags/detail/', 'tags');
  const { busy, error, run } = useRunner();
  const create = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = String(new FormData(form).get('name'));
    void run(async () => {
      await post('/tags/', { objects: [{ name }] });
      form.reset();
    });
  };
  return (
    <Section title="Tags">
      <form class="inline" onSubmit={create} aria-label="Create a tag">
        <label>
          Name <input name="name" required />
        </label>
        <button type="submit" disabled={busy}>
          Create tag
        </button>
        <Errors error={error} />
      </form>
      <ListTable
        label="Tags"
        columns={['Name', 'Resources', 'Actions']}
        collection={tags}
        empty="No tags yet."
        row={(tag) => <TagRow key={tag.uuid} tag={tag} />}
      />
    </Section>
  );
}
