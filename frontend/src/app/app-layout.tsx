/**
 * The shell around every page: navigation (with not-yet-available sections marked), the live
 * connection indicator, server version, and the API-key prompt. Not responsible for page content.
 */
import { NavLink, Outlet } from "react-router";
import { ConnectionIndicator } from "@/components/connection-indicator";
import { ApiKeyPrompt } from "@/features/auth";
import { PLANNED_SECTIONS } from "@/features/placeholders";
import { ServerInfo } from "@/features/server-info";

const navClass = ({ isActive }: { isActive: boolean }) =>
  `nav__link${isActive ? " nav__link--active" : ""}`;

export function AppLayout() {
  return (
    <div className="shell">
      <nav className="nav" aria-label="Main">
        <div className="nav__brand">Interp Studio</div>
        <NavLink to="/jobs" className={navClass}>
          Jobs
        </NavLink>
        <NavLink to="/models" className={navClass}>
          Models
        </NavLink>
        <NavLink to="/datasets" className={navClass}>
          Datasets
        </NavLink>
        <NavLink to="/extractions" className={navClass}>
          Extractions
        </NavLink>
        <NavLink to="/system" className={navClass}>
          System
        </NavLink>
        <div className="nav__group" aria-hidden="true">
          coming
        </div>
        {PLANNED_SECTIONS.map((section) => (
          <NavLink key={section.path} to={`/${section.path}`} className={navClass}>
            {section.title}
            <span className="nav__soon">soon</span>
          </NavLink>
        ))}
        <div className="nav__footer">
          <ConnectionIndicator />
          <ServerInfo />
        </div>
      </nav>
      <main className="main">
        <Outlet />
      </main>
      <ApiKeyPrompt />
    </div>
  );
}
