/* つなぐ Tsunagu web UI: shared helpers (API calls with the session cookie, messages). No user text is
   ever written as HTML: everything goes through textContent. */
(function () {
  "use strict";

  /** Call the API on this site with the session cookie; resolves to {ok, status, data}. */
  async function api(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return { ok: false, status: 0, data: { title: "サーバーに接続できません", message: String(err),
        hint: "ネットワークとサーバーの状態を確かめてから、もう一度試してください" } };
    }
    if (response.status === 401) {
      const here = window.location.pathname + window.location.search;
      window.location.assign("/web/login?next=" + encodeURIComponent(here));
      return { ok: false, status: 401, data: { title: "ログインが必要です", message: "", hint: "ログインしてください" } };
    }
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (response.status !== 204 && type.indexOf("json") >= 0) {
      try { data = await response.json(); } catch (err) { data = null; }
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  /** Turn an API error body into {title, message, hint} (also FastAPI's own 422 bodies). */
  function problem(result) {
    const d = result.data || {};
    if (Array.isArray(d.detail)) {
      const lines = d.detail.map(function (e) {
        return (e.loc || []).filter(function (p) { return p !== "body"; }).join(".") + ": " + (e.msg || "");
      });
      return { title: "入力に誤りがあります", message: lines.join(" ／ "), hint: "入力を確かめてください" };
    }
    return {
      title: d.title || ("エラーが発生しました（" + result.status + "）"),
      message: d.message || "",
      hint: d.hint || "",
    };
  }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  /** Give a message box one of the looks ok / info / error (its other classes stay). */
  function look(box, kind) {
    box.classList.remove("alert-ok", "alert-info", "alert-error");
    box.classList.add("alert", "alert-" + kind);
  }

  function line(tag, text, cls) {
    const el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    return el;
  }

  /** Show an API failure (Japanese title, hint, and the technical message small) in a box. */
  function showError(box, result) {
    const p = problem(result);
    clear(box);
    look(box, "error");
    box.appendChild(line("strong", p.title));
    if (p.hint) { box.appendChild(line("div", p.hint)); }
    if (p.message) { box.appendChild(line("div", p.message, "muted small")); }
    box.hidden = false;
    if (box.classList.contains("toast")) { settle(box, "error"); } else { box.scrollIntoView({ block: "nearest" }); }
  }

  /** Show a short message (ok / info / error) in a status box; a toast's ok message fades after a while. */
  function showStatus(box, text, kind) {
    clear(box);
    look(box, kind || "ok");
    box.appendChild(line("span", text));
    box.hidden = false;
    settle(box, kind || "ok");
  }

  const timers = new WeakMap();
  function settle(box, kind) {
    if (!box.classList.contains("toast")) { return; }
    window.clearTimeout(timers.get(box));
    if (kind === "ok") { timers.set(box, window.setTimeout(function () { box.hidden = true; }, 8000)); }
    if (!box.dataset.closable) {
      box.dataset.closable = "1";
      box.title = "タップで閉じる";
      box.addEventListener("click", function () { box.hidden = true; });
    }
  }

  window.Tsunagu = { api: api, problem: problem, showError: showError, showStatus: showStatus, clear: clear, line: line };
})();
