/* ワークスペース: choose the workspace this browser works on (POST /workspaces/select sets a cookie). */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const status = document.getElementById("chooser-status");
  document.querySelectorAll("#workspace-chooser [data-workspace]").forEach(function (button) {
    button.addEventListener("click", async function () {
      button.disabled = true;
      const result = await T.api("POST", "/workspaces/select", { name: button.dataset.workspace });
      if (result.ok) { window.location.assign("/web/"); return; }
      button.disabled = false;
      T.showError(status, result);
    });
  });
})();
