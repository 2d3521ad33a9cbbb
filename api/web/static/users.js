/* ユーザー管理: add, change, reset the password of and delete accounts through the /users API. */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const statusBox = document.getElementById("users-status");

  function reloadWith(message) {
    window.sessionStorage.setItem("tsunagu-users-message", message);
    window.location.reload();
  }

  const saved = window.sessionStorage.getItem("tsunagu-users-message");
  if (saved) {
    window.sessionStorage.removeItem("tsunagu-users-message");
    T.showStatus(statusBox, saved);
  }

  const add = document.getElementById("new-user");
  add.addEventListener("submit", async function (event) {
    event.preventDefault();
    const f = add.elements;
    const body = {
      username: f.username.value.trim(), password: f.password.value, role: f.role.value,
      display_name: f.display_name.value.trim() || null, station_id: f.station_id.value.trim() || null,
    };
    const result = await T.api("POST", "/users", body);
    if (result.ok) { reloadWith("「" + body.username + "」を追加しました"); return; }
    T.showError(statusBox, result);
  });

  document.querySelectorAll(".user-card").forEach(function (card) {
    const username = card.dataset.username;
    const url = "/users/" + encodeURIComponent(username);
    card.addEventListener("submit", function (event) { event.preventDefault(); });
    card.querySelectorAll("[data-action]").forEach(function (button) {
      button.addEventListener("click", async function () {
        const f = card.elements;
        const action = button.dataset.action;
        let result;
        if (action === "save") {
          result = await T.api("PATCH", url, {
            role: f.role.value, station_id: f.station_id.value.trim(),
            display_name: f.display_name.value.trim(), disabled: f.disabled.checked,
          });
          if (result.ok) { reloadWith("「" + username + "」を変更しました"); return; }
        } else if (action === "password") {
          const password = f.new_password.value;
          if (!password) {
            T.showStatus(statusBox, "新しいパスワードを入力してください", "error");
            f.new_password.focus();
            return;
          }
          result = await T.api("PATCH", url, { password: password });
          if (result.ok) { reloadWith("「" + username + "」のパスワードを再設定しました（ログイン中のセッションは終了しました）"); return; }
        } else if (action === "delete") {
          if (!window.confirm("「" + username + "」を削除しますか？元に戻せません。")) { return; }
          result = await T.api("DELETE", url);
          if (result.ok) { reloadWith("「" + username + "」を削除しました"); return; }
        }
        if (result) { T.showError(statusBox, result); }
      });
    });
  });
})();
