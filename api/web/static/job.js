/* One job: poll GET /jobs/{id} for status and progress; reload when it ends; cancel. */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const box = document.getElementById("job");
  if (!box) { return; }
  const jobId = box.dataset.jobId;
  const url = "/jobs/" + encodeURIComponent(jobId);
  const bar = document.getElementById("job-progress");
  const statusEl = document.getElementById("job-status");
  const percentEl = document.getElementById("job-percent");
  const messageEl = document.getElementById("job-message");
  const errorBox = document.getElementById("job-error");
  const FINAL = ["done", "failed", "cancelled"];
  let failures = 0;

  function show(job) {
    const percent = Math.round(100 * (Number(job.progress) || 0));
    bar.value = job.status === "done" ? 100 : percent;
    bar.textContent = percent + "%";
    percentEl.textContent = (job.status === "done" ? 100 : percent) + "%";
    statusEl.textContent = job.status_label || job.status;
    statusEl.className = "status status-" + job.status;
    messageEl.textContent = job.message || "";
    box.dataset.status = job.status;
  }

  async function poll() {
    const result = await T.api("GET", url);
    if (result.ok && result.data) {
      failures = 0;
      show(result.data);
      if (FINAL.indexOf(result.data.status) >= 0) {
        window.location.reload();  // the page shows the result, the error or the cancellation
        return;
      }
    } else if (result.status !== 401) {
      failures += 1;
      if (failures >= 3) { T.showError(errorBox, result); }
    }
    window.setTimeout(poll, failures ? 3000 : 1000);
  }

  if (FINAL.indexOf(box.dataset.status) < 0) { window.setTimeout(poll, 500); }

  const cancel = document.getElementById("cancel-job");
  if (cancel) {
    cancel.addEventListener("click", async function () {
      if (!window.confirm("このジョブを取り消しますか？")) { return; }
      cancel.disabled = true;
      const result = await T.api("POST", url + "/cancel");
      if (result.ok) { window.location.reload(); return; }
      cancel.disabled = false;
      T.showError(errorBox, result);
    });
  }
})();
