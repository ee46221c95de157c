/**
 * Shows an error from the API (message, code) or any thrown value, in one consistent block.
 * Not responsible for recovering from it.
 */
import { ApiError } from "@/lib/api-client";

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : null;
  return (
    <div className="error-message" role="alert">
      {title && <strong className="error-message__title">{title}</strong>}
      <span>{message}</span>
      {code && <code className="error-message__code">{code}</code>}
    </div>
  );
}
