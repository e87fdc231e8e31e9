/** Small shared pieces: labelled fields with the API's own messages beside them, errors, states. */
import { useId, type ReactNode } from 'react';
import { ApiError } from './api';

/** The API's validation messages for a field (and the fields under it), or [] when none. */
export function messagesFor(error: unknown, field: string): string[] {
  return error instanceof ApiError ? error.messagesFor(field) : [];
}

interface FieldProps {
  label: string;
  /** The API's field path (`minPortsPerVm`, `logConfig.filter`, `rules[0].match`): its messages show beside the input. */
  field: string;
  error: unknown;
  hint?: string;
  /** Renders the input with these props; `labelId` is for a group (role="group", aria-labelledby), which a label's htmlFor cannot name. */
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }, labelId: string) => ReactNode;
}

/** A label, the input (rendered by `children` with the ids it needs), a hint, and the API's messages. */
export function Field({ label, field, error, hint, children }: FieldProps) {
  const id = useId();
  const messages = messagesFor(error, field);
  const described = [hint ? `${id}-hint` : '', messages.length ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={messages.length ? 'field invalid' : 'field'} data-field={field}>
      <label htmlFor={id} id={`${id}-label`}>
        {label}
      </label>
      {children({ id, 'aria-describedby': described, 'aria-invalid': messages.length ? true : undefined }, `${id}-label`)}
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {messages.length > 0 && (
        <ul id={`${id}-err`} className="field-errors" data-testid={`error-${field}`}>
          {messages.map((m, i) => (
            <li key={i}>
              <span aria-hidden="true">⚠ </span>
              {m}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** An error banner: the problem's title and detail, and every field error not shown beside a field. */
export function ErrorBanner({ error, shownFields = [] }: { error: unknown; shownFields?: string[] }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div role="alert" className="banner error">
        <strong>Error: </strong>
        {error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error)}
      </div>
    );
  }
  const p = error.problem;
  const covered = (f: string) => shownFields.some((s) => f === s || f.startsWith(`${s}.`) || f.startsWith(`${s}[`));
  const others = error.errors.filter((e) => !covered(e.field));
  return (
    <div role="alert" className="banner error" data-testid="problem">
      <strong>
        {p.status} {p.title}
      </strong>
      {p.detail && p.detail !== p.title && <span>: {p.detail}</span>}
      {error.errors.length > others.length && <div>The fields marked with ⚠ below need a change.</div>}
      {others.length > 0 && (
        <ul>
          {others.map((e, i) => (
            <li key={i}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
      {p.users && p.users.length > 0 && <div>Still used by: {p.users.join(', ')}</div>}
    </div>
  );
}

const STATE_GLYPH: Record<string, string> = { READY: '✔', PROVISIONING: '⟳', DEGRADED: '⚠', RESERVED: '○', IN_USE: '●' };

/** A state as text with a glyph; the colour only repeats what the text says. */
export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`state state-${state.toLowerCase()}`} data-testid="state">
      <span aria-hidden="true">{STATE_GLYPH[state] ?? '•'} </span>
      {state}
    </span>
  );
}

/** The merge patch of a labels map: changed and new keys, and null for each key removed (RFC 7396). */
export function labelsPatch(before: Record<string, string>, after: Record<string, string>): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) patch[k] = v;
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  return patch;
}

/** "a, b, c" -> ["a", "b", "c"] (blank items dropped). */
export function splitList(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}
