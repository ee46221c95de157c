/**
 * A side panel over the page (detail views). Takes the keyboard focus when it opens and gives it
 * back to what had it when it closes; closes on Escape and on the close button.
 * Not responsible for routing (callers decide what closing means).
 */
import { type ReactNode, useEffect, useRef } from "react";
import { Button } from "@/components/ui/button";

type DrawerProps = {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
};

export function Drawer({ title, onClose, children }: DrawerProps) {
  const panel = useRef<HTMLElement>(null);
  useEffect(() => {
    const before = document.activeElement;
    panel.current?.focus();
    return () => {
      if (before instanceof HTMLElement && before.isConnected) before.focus();
    };
  }, []);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  return (
    <aside ref={panel} tabIndex={-1} className="drawer" role="dialog" aria-modal="false"
      aria-label="Details">
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
