/** The account's audit log (`/logs/`), newest first, a page at a time. */
import { useEffect, useState } from 'preact/hooks';
import { get, type ListPage, type Obj } from '../api';
import { Empty, Errors, Section, when } from '../ui';

const PAGE = 50;

export function LogsPage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<ListPage | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let live = true;
    get<ListPage>(`/logs/?limit=${PAGE}&offset=${offset}`).then(
      (p) => live && setPage(p),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [offset]);
  const total = page?.meta.total_count ?? 0;
  return (
    <Section title="Audit log">
      <Errors error={error} />
      {page && page.objects.length === 0 ? <Empty>Nothing logged yet.</Empty> : null}
      {page?.objects.length ? (
        <table class="list" aria-label="Audit log">
          <thead>
            <tr>
              <th>Time</th>
              <th>Category</th>
              <th>Action</th>
              <th>Object</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {page.objects.map((entry: Obj, i) => (
              <tr key={`${String(entry.timestamp)}-${i}`}>
                <td>{when(entry.timestamp)}</td>
                <td>{String(entry.category ?? '')}</td>
                <td>{String(entry.action ?? '')}</td>
                <td>
                  <code>{String(entry.uuid ?? '').slice(0, 8)}</code>
                </td>
                <td>{entry.success ? 'ok' : String(entry.error_message ?? 'failed')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <p class="pager">
        <button
          type="button"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - PAGE))}
        >
          Newer
        </button>
        <span>
          {total === 0 ? 0 : offset + 1}–{Math.min(offset + PAGE, total)} of {total}
        </span>
        <button
          type="button"
          disabled={offset + PAGE >= total}
          onClick={() => setOffset(offset + PAGE)}
        >
          Older
        </button>
      </p>
    </Section>
  );
}
