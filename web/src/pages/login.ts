import { login } from "../api";
import { clear, errorBox, h } from "../dom";
import { navigate } from "../main";

function safeNext(n: string | null): string {
  return n && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/login") ? n : "/";
}

export async function loginPage(app: HTMLElement, _p: string[], query: URLSearchParams): Promise<void> {
  const next = safeNext(query.get("next"));
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, size: 50 }) as HTMLInputElement;
  const msg = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "login", "aria-label": "Log in" },
    h("label", { for: "token" }, "Workspace token"),
    input,
    h("button", { type: "submit" }, "Log in"),
    msg,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await login(input.value.trim());
      document.getElementById("logout")!.hidden = false;
      navigate(next);
    } catch (e) {
      clear(msg, errorBox(e));
    }
  });
  clear(
    app,
    h("h1", null, "Log in to the studio"),
    query.get("error") === "expired"
      ? h("p", { class: "error", role: "alert" }, "That login link was used already or has expired. Run `trainyard ui` for a new one, or paste the token.")
      : null,
    h("p", null, "Run ", h("code", null, "trainyard ui"), " in the workspace for a one-time login link, or paste the workspace token (",
      h("code", null, ".trainyard/config.json"), ")."),
    form,
  );
  input.focus();
}
