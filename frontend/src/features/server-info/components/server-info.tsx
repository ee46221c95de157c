/**
 * The server's version and database engine, for the navigation footer.
 * Not responsible for connectivity (see the connection indicator).
 */
import { useHealth } from "../api/get-health";

export function ServerInfo() {
  const health = useHealth();
  if (!health.data) return <span className="muted">server: …</span>;
  return (
    <span className="muted mono" title="Interp Studio server version and database">
      v{health.data.version} · {health.data.database}
    </span>
  );
}
