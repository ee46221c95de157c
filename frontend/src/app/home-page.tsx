/**
 * The home page: what Interp Studio does, and the first five minutes in one button ("Run the
 * demo": bundled model + bundled text -> tokenize -> all-layer extraction, with live progress).
 * Composes features (the app layer may); not responsible for any of their logic.
 */
import { Link } from "react-router";
import { DemoButton } from "@/features/extractions";

const SECTIONS = [
  { to: "/models", title: "Models", text: "Download from the Hub or import local files, at fp32 to q2; inspect layers and hook points." },
  { to: "/datasets", title: "Datasets", text: "Upload or import text, preview it, tokenize it exactly as a model sees it." },
  { to: "/extractions", title: "Extractions", text: "Capture many hook points of many layers in one forward pass, with exact statistics." },
  { to: "/jobs", title: "Jobs", text: "Everything long-running, live: progress, cancel, resume, retry." },
];

export function HomePage() {
  return (
    <section className="page">
      <h1>Welcome to Interp Studio</h1>
      <p>
        New here? Run the demo: it imports the bundled SmolLM2-135M model and a public-domain
        text, tokenizes it, and extracts every layer's activations while you watch.
      </p>
      <DemoButton />
      <ul className="home-sections">
        {SECTIONS.map((section) => (
          <li key={section.to}>
            <Link to={section.to}>{section.title}</Link> — {section.text}
          </li>
        ))}
      </ul>
    </section>
  );
}
