/* 訪問ルート: import a station's visits file and plan a CSW day through the API (cookie session). */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const statusBox = document.getElementById("outreach-status");

  const importForm = document.getElementById("visits-import");
  importForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const station = importForm.elements.station_id.value;
    const result = await T.api("POST", "/clients/import?station_id=" + encodeURIComponent(station),
                               new FormData(importForm));
    if (result.ok) {
      T.showStatus(statusBox, "訪問先を取り込みました。ページを読み直すと件数が更新されます。");
      return;
    }
    T.showError(statusBox, result);
  });

  const planForm = document.getElementById("outreach-plan");
  planForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const f = planForm.elements;
    const body = { station_id: f.station_id.value, csws: Number(f.csws.value), hours: f.hours.value.trim(),
                   break_time: f.break_time.value.trim() || "none", mode: f.mode.value };
    if (f.date.value) { body.date = f.date.value; }
    const result = await T.api("POST", "/outreach/plans", body);
    if (result.ok && result.data && result.data.job_id) {
      window.location.assign("/web/jobs/" + encodeURIComponent(result.data.job_id));
      return;
    }
    T.showError(statusBox, result);
  });
})();
