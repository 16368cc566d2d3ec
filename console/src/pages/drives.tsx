/** Drives: creation, resize, clone, deletion, and an image upload with a progress bar. */
import { useState } from 'preact/hooks';
import { del, type Obj, post, uuidOf } from '../api';
import {
  bytes,
  Errors,
  GIB,
  ListTable,
  MediaField,
  Section,
  Status,
  sure,
  useCollection,
  useRunner,
} from '../ui';
import { uploadImage } from '../upload';

function CreateDrive() {
  const { busy, error, run } = useRunner();
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void run(async () => {
      await post('/drives/', {
        objects: [
          {
            name: String(data.get('name')),
            size: Math.round(Number(data.get('size')) * GIB),
            media: String(data.get('media')),
          },
        ],
      });
      form.reset();
    });
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="Create a drive">
      <label>
        Name <input name="name" required />
      </label>
      <label>
        Size (GiB) <input name="size" type="number" min="0" step="any" defaultValue="10" required />
      </label>
      <MediaField />
      <button type="submit" disabled={busy}>
        Create drive
      </button>
      <Errors error={error} />
    </form>
  );
}

function UploadImage() {
  const { busy, error, run } = useRunner();
  const [progress, setProgress] = useState<{ sent: number; total: number } | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const submit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const file = data.get('file');
    if (!(file instanceof File) || file.size === 0) return;
    setDone(undefined);
    void run(async () => {
      const uuid = await uploadImage(file, {
        name: String(data.get('name')) || file.name,
        media: String(data.get('media')),
        onProgress: (sent, total) => setProgress({ sent, total }),
      });
      setDone(uuid);
      form.reset();
    });
  };
  const percent = progress ? Math.floor((progress.sent / Math.max(progress.total, 1)) * 100) : 0;
  return (
    <form class="inline" onSubmit={submit} aria-label="Upload an image">
      <label>
        Image file <input name="file" type="file" required />
      </label>
      <label>
        Name <input name="name" placeholder="(the file's name)" />
      </label>
      <MediaField />
      <button type="submit" disabled={busy}>
        Upload
      </button>
      {progress ? (
        <span class="progress">
          <progress max={progress.total} value={progress.sent} aria-label="Upload progress" />
          <span data-percent={percent}>{percent}%</span>
        </span>
      ) : null}
      {done ? <span role="status">Uploaded to drive {done.slice(0, 8)}.</span> : null}
      <Errors error={error} />
    </form>
  );
}

function DriveRow({ drive }: { drive: Obj }) {
  const { busy, error, run } = useRunner();
  const [size, setSize] = useState(String(Number(drive.size) / GIB));
  const resize = () =>
    void run(() =>
      post(`/drives/${drive.uuid}/action/?do=resize`, {
        name: drive.name,
        media: drive.media,
        size: Math.round(Number(size) * GIB),
      }),
    );
  const clone = () => void run(() => post(`/drives/${drive.uuid}/action/?do=clone`, {}));
  const remove = () => {
    if (sure(`Delete drive ${String(drive.name)}?`)) void run(() => del(`/drives/${drive.uuid}/`));
  };
  const mounted = ((drive.mounted_on as unknown[]) ?? []).map(uuidOf).filter(Boolean);
  return (
    <tr data-uuid={drive.uuid}>
      <td>{String(drive.name)}</td>
      <td>
        <Status value={drive.status} />
      </td>
      <td>{bytes(drive.size)}</td>
      <td>{String(drive.media)}</td>
      <td>
        {mounted.map((uuid) => (
          <a key={uuid} href={`#/servers/${uuid}`}>
            {String(uuid).slice(0, 8)}
          </a>
        ))}
      </td>
      <td class="actions">
        <input
          aria-label={`New size of ${String(drive.name)} (GiB)`}
          type="number"
          min="0"
          step="any"
          size={6}
          value={size}
          onInput={(e) => setSize(e.currentTarget.value)}
        />
        <button type="button" disabled={busy} onClick={resize}>
          Resize
        </button>
        <button type="button" disabled={busy} onClick={clone}>
          Clone
        </button>
        <button type="button" class="danger" disabled={busy} onClick={remove}>
          Delete
        </button>
        <Errors error={error} />
      </td>
    </tr>
  );
}

export function DrivesPage() {
  const drives = useCollection('/drives/detail/', 'drives');
  return (
    <Section title="Drives">
      <CreateDrive />
      <UploadImage />
      <ListTable
        label="Drives"
        columns={['Name', 'Status', 'Size', 'Media', 'Mounted on', 'Actions']}
        collection={drives}
        empty="No drives yet."
        row={(drive) => <DriveRow key={drive.uuid} drive={drive} />}
      />
    </Section>
  );
}
