/* 解析: read a generated form back into the analysis parameters and start the job (POST /jobs). */
(function () {
  "use strict";
  const T = window.Tsunagu;

  function numberOf(text, integer) {
    const value = Number(text);
    if (text === "" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      return text;  // sent as given: the server names the field that is wrong
    }
    return value;
  }

  function listOf(text, kind) {
    const parts = text.split(/[,、，\s]+/).map(function (s) { return s.trim(); }).filter(Boolean);
    if (kind === "list-string") { return parts; }
    return parts.map(function (p) { return numberOf(p, kind === "list-integer"); });
  }

  function labelOf(input) {
    const label = input.closest("label");
    const span = label && label.querySelector("span");
    return span ? span.textContent.replace("必須", "").trim() : input.dataset.param;
  }

  /** The params object of a form; throws {field, label, message} for input that cannot be read. */
  function paramsOf(form) {
    const params = {};
    form.querySelectorAll("[data-param]").forEach(function (input) {
      const name = input.dataset.param;
      const kind = input.dataset.kind;
      if (kind === "boolean") { params[name] = input.checked; return; }
      if (input.validity && input.validity.badInput) {
        throw { field: name, label: labelOf(input), message: "数値を入力してください" };
      }
      const text = input.value.trim();
      if (text === "") { return; }  // empty: the analysis's default
      if (kind === "number" || kind === "integer") { params[name] = numberOf(text, kind === "integer"); }
      else if (kind.indexOf("list-") === 0) { params[name] = listOf(text, kind); }
      else if (kind === "json") {
        try { params[name] = JSON.parse(text); }
        catch (err) {
          throw { field: name, label: labelOf(input), message: "JSON として読めません（" + String(err.message || err) + "）" };
        }
      } else { params[name] = text; }
    });
    return params;
  }

  document.querySelectorAll(".analysis-form").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const errorBox = form.querySelector(".form-error");
      errorBox.hidden = true;
      const button = form.querySelector(".run-button");
      let params;
      try { params = paramsOf(form); }
      catch (err) {
        T.showError(errorBox, { status: 422, data: { title: "「" + err.label + "」の入力に誤りがあります",
          message: err.field, hint: err.message } });
        const details = form.querySelector("details");
        if (details) { details.open = true; }
        return;
      }
      button.disabled = true;
      button.textContent = "開始しています…";
      const result = await T.api("POST", "/jobs", { analysis: form.dataset.analysis, params: params });
      if (result.ok && result.data && result.data.job_id) {
        window.location.assign("/web/jobs/" + encodeURIComponent(result.data.job_id));
        return;
      }
      button.disabled = false;
      button.textContent = "実行";
      T.showError(errorBox, result);
    });
  });
})();
