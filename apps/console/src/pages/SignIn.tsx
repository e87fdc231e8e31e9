/** Sign in with a token: an admin token (then pick a project) or a project token (type its project). */
import { useState, type FormEvent } from 'react';
import { Api, type Session } from '../api';
import { ErrorBanner, Field } from '../ui';

export function SignIn({ onSignIn }: { onSignIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [project, setProject] = useState('');
  const [projects, setProjects] = useState<string[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  // an admin token can list the projects: offer them
  const listProjects = async () => {
    if (!token) return;
    try {
      setProjects(await new Api({ token, project: '-' }).adminProjects());
    } catch {
      setProjects(undefined);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = { token: token.trim(), project: project.trim() };
      // the token must see the project: a wrong token gets 401, another project's path 404
      await new Api(s).networks.list();
      onSignIn(s);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Sign in to the natplane console</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="signin-help">
        <p id="signin-help">Use an admin token (the operator's) or a project token, and the project to work in.</p>
        <ErrorBanner error={error} />
        <Field label="Token" field="token" error={error} hint="Sent as Authorization: Bearer; kept in this tab only.">
          {(p) => <input {...p} type="password" autoComplete="off" required value={token} onChange={(e) => setToken(e.target.value)} onBlur={() => void listProjects()} />}
        </Field>
        <Field label="Project" field="project" error={error} hint={projects ? 'Projects this admin token sees are suggested.' : undefined}>
          {(p) => (
            <>
              <input {...p} list="projects" required value={project} onChange={(e) => setProject(e.target.value)} />
              <datalist id="projects">
                {(projects ?? []).map((n) => (
                  <option key={n} value={n} />
                ))}
              </datalist>
            </>
          )}
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
