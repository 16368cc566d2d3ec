/** Tags: create, rename, delete; how many resources carry each. */
import { useState } from 'preact/hooks';
import { del, type Obj, post, put } from '../api';
import { Empty, Errors, Section, sure, useCollection, useRunner } from '../ui';

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
      <Errors error={tags.error} />
      {tags.items?.length === 0 ? <Empty>No tags yet.</Empty> : null}
      {tags.items?.length ? (
        <table class="list" aria-label="Tags">
          <thead>
            <tr>
              <th>Name</th>
              <th>Resources</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {tags.items.map((tag) => (
              <TagRow key={tag.uuid} tag={tag} />
            ))}
          </tbody>
        </table>
      ) : null}
    </Section>
  );
}
