/** The library: the cloud's drives, cloned into one of the account's own. */
import { useState } from 'preact/hooks';
import { type Obj, post } from '../api';
import { bytes, Errors, ListTable, Section, useCollection, useRunner } from '../ui';

function LibraryRow({ drive }: { drive: Obj }) {
  const { busy, error, run } = useRunner();
  const [cloned, setCloned] = useState<string | undefined>();
  const clone = () =>
    void run(async () => {
      const answer = await post<{ objects?: Obj[] } & Obj>(
        `/libdrives/${drive.uuid}/action/?do=clone`,
        {},
      );
      setCloned(String((answer.objects?.[0] ?? answer).name ?? ''));
    });
  return (
    <tr data-uuid={drive.uuid}>
      <td>{String(drive.name)}</td>
      <td>{String(drive.os ?? '')}</td>
      <td>{String(drive.version ?? '')}</td>
      <td>{String(drive.media)}</td>
      <td>{bytes(drive.size)}</td>
      <td class="actions">
        <button type="button" disabled={busy} onClick={clone}>
          Clone to my drives
        </button>
        {cloned ? <span role="status">Cloned as {cloned}.</span> : null}
        <Errors error={error} />
      </td>
    </tr>
  );
}

export function LibraryPage() {
  const library = useCollection('/libdrives/', 'libdrives');
  return (
    <Section title="Library">
      <ListTable
        label="Library drives"
        columns={['Name', 'OS', 'Version', 'Media', 'Size', 'Actions']}
        collection={library}
        empty="The library is empty."
        row={(drive) => <LibraryRow key={drive.uuid} drive={drive} />}
      />
    </Section>
  );
}
