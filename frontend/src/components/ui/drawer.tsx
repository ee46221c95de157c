/**
 * A side panel over the page (detail views). Closes on Escape and on the close button.
 * Not responsible for routing (callers decide what closing means).
 */
import { type ReactNode, useEffect } from "react";
import { Button } from "@/components/ui/button";

type DrawerProps = {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
};

export function Drawer({ title, onClose, children }: DrawerProps) {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  return (
    <aside className="drawer" role="dialog" aria-modal="false" aria-label="Details">
      <header className="drawer__header">
        <h2 className="drawer__title">{title}</h2>
        <Button variant="ghost" size="sm" onClick={onClose} aria-label="Close details">
          ✕
        </Button>
      </header>
      <div className="drawer__body">{children}</div>
    </aside>
  );
}
