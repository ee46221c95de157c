/**
 * A page for a part of the workbench that is not built yet: says what it will do, clearly marked
 * as not available, with no fake data. Not responsible for any behaviour.
 */
import { Badge } from "@/components/ui/badge";
import type { PlannedSection } from "../planned-sections";

export function PlaceholderPage({ section }: { section: PlannedSection }) {
  return (
    <section className="page">
      <header className="page__header">
        <h1>{section.title}</h1>
        <Badge tone="warning">not yet available</Badge>
      </header>
      <p className="placeholder__lead">{section.summary}</p>
      <h2 className="section-title">What will come</h2>
      <ul className="placeholder__list">
        {section.plans.map((plan) => (
          <li key={plan}>{plan}</li>
        ))}
      </ul>
      <p className="muted">
        Nothing on this page works yet; the jobs and system pages show what the server does today.
      </p>
    </section>
  );
}
