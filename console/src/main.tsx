/**
 * The web console: one page, routed by the URL's fragment (`#/servers`, `#/servers/UUID`...), so
 * that sigmalite serves a single file. A session comes from the API's own login.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, login, logout, signedIn, whenSignedOut } from './api';
import { startEvents, stopEvents } from './events';
import { DrivesPage } from './pages/drives';
import { FirewallPage } from './pages/firewall';
import { KeypairsPage } from './pages/keypairs';
import { LibraryPage } from './pages/library';
import { LogsPage } from './pages/logs';
import { NetworkPage } from './pages/network';
import { ServerPage } from './pages/server';
import { ServersPage } from './pages/servers';
import { TagsPage } from './pages/tags';
import { Errors, useRunner } from './ui';
import './style.css';

const PAGES: { path: string; title: string }[] = [
  { path: 'servers', title: 'Servers' },
  { path: 'drives', title: 'Drives' },
  { path: 'library', title: 'Library' },
  { path: 'network', title: 'IPs and VLANs' },
  { path: 'tags', title: 'Tags' },
  { path: 'keypairs', title: 'Keypairs' },
  { path: 'firewall', title: 'Firewall policies' },
  { path: 'logs', title: 'Audit log' },
];

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function Login({ onIn }: { onIn: () => void }) {
  const { busy, error, run } = useRunner();
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void run(async () => {
      await login(String(form.get('email')), String(form.get('password')));
      onIn();
    });
  };
  return (
    <main class="login">
      <h1>sigmalite</h1>
      <form onSubmit={submit} aria-label="Log in">
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" disabled={busy}>
          Log in
        </button>
        <Errors error={error} />
      </form>
    </main>
  );
}

function Page({ route }: { route: string[] }) {
  const [page, id] = route;
  switch (page) {
    case 'servers':
      return id ? <ServerPage uuid={id} /> : <ServersPage />;
    case 'drives':
      return <DrivesPage />;
    case 'library':
      return <LibraryPage />;
    case 'network':
      return <NetworkPage />;
    case 'tags':
      return <TagsPage />;
    case 'keypairs':
      return <KeypairsPage />;
    case 'firewall':
      return <FirewallPage />;
    case 'logs':
      return <LogsPage />;
    default:
      return <ServersPage />;
  }
}

function App() {
  const [account, setAccount] = useState<{ email: string } | null | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(undefined);
  const route = useRoute();
  const check = () =>
    signedIn().then(
      (profile) => {
        setAccount(profile);
        if (profile) startEvents();
      },
      (e: unknown) => setFailure(e),
    );
  useEffect(() => {
    whenSignedOut(() => {
      stopEvents();
      setAccount(null);
    });
    void check();
  }, []);
  const { run, error: logoutError } = useRunner();

  if (failure) return <Errors error={failure} />;
  if (account === undefined) return <p class="loading">Loading…</p>;
  if (account === null) return <Login onIn={check} />;
  const current = route[0] ?? 'servers';
  return (
    <div class="shell">
      <nav aria-label="Sections">
        <h1>sigmalite</h1>
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <a href={`#/${p.path}`} aria-current={current === p.path ? 'page' : undefined}>
                {p.title}
              </a>
            </li>
          ))}
        </ul>
        <div class="account">
          <span class="email">{account.email}</span>
          <button
            type="button"
            onClick={() =>
              void run(async () => {
                try {
                  await logout();
                } catch (e) {
                  // A session that is already gone is logged out all the same.
                  if (!(e instanceof ApiError && e.status === 401)) throw e;
                }
                stopEvents();
                setAccount(null);
              })
            }
          >
            Log out
          </button>
          <Errors error={logoutError} />
        </div>
      </nav>
      <main>
        <Page route={route} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
