/**
 * The API-key prompt: appears when the server answers 401, stores the key in localStorage and
 * retries what failed. Not responsible for sending the key (the HTTP and WebSocket clients read it
 * from the store) nor for checking it (the server does; a wrong key brings the prompt back).
 */
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { useApiKeyStore } from "@/lib/api-key-store";

export function ApiKeyPrompt() {
  const keyRequired = useApiKeyStore((s) => s.keyRequired);
  const hadKey = useApiKeyStore((s) => s.apiKey !== null);
  const saveApiKey = useApiKeyStore((s) => s.saveApiKey);
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState("");

  if (!keyRequired) return null;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!draft.trim()) return;
    saveApiKey(draft);
    setDraft("");
    void queryClient.invalidateQueries();
  };

  return (
    <div className="overlay">
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="api-key-title"
        onSubmit={submit}
      >
        <h2 id="api-key-title">API key required</h2>
        <p>
          {hadKey
            ? "The server rejected the stored API key. Enter a valid one."
            : "This Interp Studio server needs an API key."}{" "}
          It is the value of <code>INTERPSTUDIO_API_KEY</code> on the server, and is kept in this
          browser's local storage.
        </p>
        <label className="dialog__field">
          <span>API key</span>
          <input
            type="password"
            autoComplete="current-password"
            autoFocus
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
          />
        </label>
        <div className="dialog__actions">
          <Button type="submit" variant="primary" disabled={!draft.trim()}>
            Save key
          </Button>
        </div>
      </form>
    </div>
  );
}
