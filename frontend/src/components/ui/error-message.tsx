/**
 * Shows an error from the API (message, code) or any thrown value, in one consistent block; a
 * 422 `invalid_request` also lists each invalid field with the server's reason
 * (`details.errors`: `[{loc: ["body", "name"], msg}]` -> "name: ..."). Not responsible for
 * recovering from it.
 */
import { ApiError } from "@/lib/api-client";

const LOCATION_ROOTS = new Set(["body", "query", "path", "header", "cookie"]);

/** "name", "policy.max_length", "hook_points[0]": where in the request a validation error is. */
export function fieldOf(loc: unknown): string {
  if (!Array.isArray(loc)) return "";
  const parts = loc.length > 1 && LOCATION_ROOTS.has(String(loc[0])) ? loc.slice(1) : loc;
  return parts.reduce<string>((path, part) => typeof part === "number"
    ? `${path}[${part}]` : path ? `${path}.${String(part)}` : String(part), "");
}

/** The field errors of an API validation error ("name: String should have ..."), else []. */
export function validationErrors(error: unknown): string[] {
  if (!(error instanceof ApiError)) return [];
  const errors = error.details.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((item) => {
    const { loc, msg } = (item ?? {}) as { loc?: unknown; msg?: unknown };
    const field = fieldOf(loc);
    const message = typeof msg === "string" ? msg : "is not valid";
    return field ? `${field}: ${message}` : message;
  });
}

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : null;
  const fields = validationErrors(error);
  return (
    <div className="error-message" role="alert">
      {title && <strong className="error-message__title">{title}</strong>}
      <span>{message}</span>
      {code && <code className="error-message__code">{code}</code>}
      {fields.length > 0 && (
        <ul className="error-message__fields">
          {fields.map((line, index) => <li key={`${index}-${line}`}>{line}</li>)}
        </ul>
      )}
    </div>
  );
}
