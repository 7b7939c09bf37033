// The model explanation an AutoML run stores as outputs/explanation.json (the driver's SHAP
// values): global importance, importance per class, and one row's SHAP values, drawn as
// horizontal bars (plain DOM: a few dozen bars, readable by screen readers as a list).
import { get } from "../api";
import { clear, fmtValue, h } from "../dom";

const TOP = 20;

interface Explanation {
  features: string[];
  classes: string[] | null;
  shap_values: number[][][]; // outputs x rows x features
  expected_values: number[];
  model_output?: number[][]; // outputs x rows
  overall_summary: number[];
  overall_imp: string[];
  per_class_summary?: number[][];
  per_class_imp?: string[][];
}

function bars(label: string, names: string[], values: number[], signed = false): HTMLElement {
  const n = Math.min(TOP, names.length);
  const max = Math.max(1e-12, ...values.slice(0, n).map((v) => Math.abs(v)));
  return h("ol", { class: "bars", "aria-label": label },
    names.slice(0, n).map((name, i) => {
      const v = values[i];
      const w = (100 * Math.abs(v)) / max;
      return h("li", null,
        h("span", { class: "bar-name" }, name),
        h("span", { class: "bar-track" }, h("span", {
          class: "bar" + (signed && v < 0 ? " neg" : ""), style: "width:" + w.toFixed(1) + "%" })),
        h("span", { class: "bar-value" }, fmtValue(v)));
    }));
}

function select(id: string, label: string, options: string[], onChange: (i: number) => void): HTMLElement {
  const s = h("select", { id }, options.map((o, i) => h("option", { value: String(i) }, o))) as HTMLSelectElement;
  s.addEventListener("change", () => onChange(Number(s.value)));
  return h("span", null, h("label", { for: id }, label), " ", s);
}

export async function explanationView(url: string): Promise<HTMLElement> {
  const e = await get<Explanation>(url);
  const classes = e.classes && e.classes.length ? e.classes : ["output"];
  const perClass = h("div");
  const perRow = h("div");
  let cls = 0;
  let row = 0;
  const rows = e.shap_values.length ? e.shap_values[0].length : 0;

  function drawClass(): void {
    if (!e.per_class_imp || !e.per_class_summary) {
      clear(perClass, h("p", { class: "muted" }, "No per-class importance (not a classification)."));
      return;
    }
    clear(perClass, bars("Importance for class " + classes[cls], e.per_class_imp[cls], e.per_class_summary[cls]));
  }

  function drawRow(): void {
    const k = Math.min(cls, e.shap_values.length - 1);
    const vals = e.shap_values[k]?.[row] || [];
    const order = vals.map((_, j) => j).sort((a, b) => Math.abs(vals[b]) - Math.abs(vals[a]));
    const out = e.model_output?.[k]?.[row];
    clear(perRow,
      h("p", null, "Base value ", h("strong", null, fmtValue(e.expected_values[k])),
        out !== undefined ? [" + SHAP values = model output ", h("strong", null, fmtValue(out))] : null),
      bars("SHAP values of row " + row, order.map((j) => e.features[j]), order.map((j) => vals[j]), true));
  }

  drawClass();
  drawRow();
  return h("section", { id: "explanation", "aria-labelledby": "h-explanation" },
    h("h2", { id: "h-explanation" }, "Model explanation"),
    h("div", { class: "cols" },
      h("div", null, h("h3", null, "Global importance (mean |SHAP|, top " + TOP + ")"),
        bars("Global importance", e.overall_imp, e.overall_summary)),
      h("div", null, h("h3", null, "Importance per class"),
        select("explain-class", "Class", classes, (i) => { cls = i; drawClass(); drawRow(); }), perClass),
      h("div", null, h("h3", null, "One row's SHAP values"),
        select("explain-row", "Row", Array.from({ length: rows }, (_, i) => String(i)), (i) => { row = i; drawRow(); }),
        perRow)));
}
