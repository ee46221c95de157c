/**
 * ModelArchitectureViewer: the decoder layers (exactly the config's count) with their hook points
 * and the modules they read, beside a collapsible module tree with true parameter counts and
 * parameter shapes. Not responsible for loading the model (the server reads a file its job wrote).
 */
import { ErrorMessage } from "@/components/ui/error-message";
import { formatNumber } from "@/lib/format";
import { useModelArchitecture } from "../api/get-model-architecture";
import type { ModelLayer, ModuleNode } from "../types";

function TreeNode({ node, open }: { node: ModuleNode; open: boolean }) {
  const label = node.name.split(".").at(-1) || node.class_name;
  return (
    <details open={open}>
      <summary>
        {label} <span className="muted">{node.class_name}</span>{" "}
        {node.role && <span className="arch__role">[{node.role}]</span>}{" "}
        <span className="num">{formatNumber(node.parameter_count)}</span>
      </summary>
      {node.parameters.map((parameter) => (
        <div key={parameter.name} className="arch__param">
          {parameter.name} [{parameter.shape.join(", ")}] {parameter.dtype}
          {parameter.stored_shape ? ` stored [${parameter.stored_shape.join(", ")}]` : ""}
        </div>
      ))}
      {node.children.map((child) => (
        <TreeNode key={child.name} node={child} open={false} />
      ))}
    </details>
  );
}

function LayerRow({ layer }: { layer: ModelLayer }) {
  return (
    <details>
      <summary>
        layer {layer.index} <span className="muted">{layer.class_name}</span>
        {layer.parallel_residual ? " · parallel" : ""}
        {layer.moe ? " · MoE" : ""}
      </summary>
      <ul>
        {layer.hook_points.map((point) => (
          <li
            key={point.name}
            className={point.module ? undefined : "arch__point--missing"}
            title={point.description ?? point.unavailable ?? ""}
          >
            <code>{point.name}</code>{" "}
            <span className="muted">
              {point.module ? `${point.phase} of ${point.module}` : point.unavailable}
            </span>
          </li>
        ))}
      </ul>
    </details>
  );
}

export function ModelArchitectureViewer({ modelId }: { modelId: number }) {
  const architecture = useModelArchitecture(modelId);
  if (architecture.error) return <ErrorMessage error={architecture.error} />;
  if (!architecture.data) return <p className="muted">Loading architecture…</p>;
  const data = architecture.data;
  return (
    <section className="arch" aria-label="Architecture">
      <div className="arch__layers">
        <h3>
          {data.n_layers} layers · d_model {data.d_model}
        </h3>
        {data.layers.map((layer) => (
          <LayerRow key={layer.index} layer={layer} />
        ))}
      </div>
      <div className="arch__tree">
        <h3>Modules</h3>
        <TreeNode node={data.module_tree} open />
      </div>
    </section>
  );
}
