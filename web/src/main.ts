// The studio's single-page app: a router over location.pathname (the server answers every
// page route with this app's index.html), one render function per page.
import { ApiError, loadSession, send } from "./api";
import { clear, errorBox, h } from "./dom";
import { loginPage } from "./pages/login";
import {
  computePage,
  datasetsPage,
  environmentsPage,
  experimentsPage,
  modelPage,
  modelsPage,
  servicesPage,
} from "./pages/lists";
import { runsPage } from "./pages/runs";
import { runPage } from "./pages/run";
import { comparePage } from "./pages/compare";

export type Cleanup = () => void;
type Page = (app: HTMLElement, params: string[], query: URLSearchParams) => Promise<Cleanup | void>;

const routes: [RegExp, Page][] = [
  [/^\/$/, experimentsPage],
  [/^\/experiments\/?$/, experimentsPage],
  [/^\/experiments\/([^/]+)\/?$/, runsPage],
  [/^\/runs\/([^/]+)\/?$/, runPage],
  [/^\/models\/?$/, modelsPage],
  [/^\/models\/([^/]+)\/?$/, modelPage],
  [/^\/datasets\/?$/, datasetsPage],
  [/^\/environments\/?$/, environmentsPage],
  [/^\/services\/?$/, servicesPage],
  [/^\/compute\/?$/, computePage],
  [/^\/compare\/?$/, comparePage],
  [/^\/login\/?$/, loginPage],
];

let cleanup: Cleanup | void = undefined;
let renderSeq = 0;

export function navigate(path: string): void {
  history.pushState(null, "", path);
  void render();
}

async function render(): Promise<void> {
  const seq = ++renderSeq;
  if (cleanup) {
    try {
      cleanup();
    } catch (_) {
      /* ignore */
    }
    cleanup = undefined;
  }
  const app = document.getElementById("app")!;
  const path = location.pathname;
  document.querySelectorAll("#top nav a").forEach((a) => {
    const href = a.getAttribute("href")!;
    const on = href === "/" ? path === "/" || path.startsWith("/experiments") || path.startsWith("/runs") : path.startsWith(href);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  for (const [re, page] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    clear(app, h("p", { class: "muted" }, "Loading…"));
    try {
      const params = m.slice(1).map((s) => decodeURIComponent(s));
      const c = await page(app, params, new URLSearchParams(location.search));
      if (seq === renderSeq) cleanup = c;
      else if (c) c();
    } catch (e) {
      if (seq !== renderSeq) return;
      if (e instanceof ApiError && e.status === 401) return; // sent to the login page
      clear(app, errorBox(e));
    }
    app.setAttribute("data-ready", String(seq));
    const h1 = app.querySelector("h1");
    document.title = (h1 ? h1.textContent + " · " : "") + "Trainyard studio";
    return;
  }
  clear(app, h("h1", null, "Not found"), h("p", null, "No studio page at " + path + "."));
}

// Links inside the app navigate without a reload; downloads and other origins are left alone.
document.addEventListener("click", (ev) => {
  const a = (ev.target as Element).closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("/api/") || a.hasAttribute("download") || a.target) return;
  ev.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", () => void render());

document.getElementById("logout")!.addEventListener("click", async () => {
  await send("POST", "/api/v1/studio/logout");
  navigate("/login");
});

// The session check and the page's first data requests go out together: a page whose data
// answers 401 sends the user to the login page (api.ts).
void loadSession().then((ok) => {
  document.getElementById("logout")!.hidden = !ok;
});
void render();
