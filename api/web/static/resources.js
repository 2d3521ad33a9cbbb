/* 地域資源: resources on a Leaflet map; editors add (tap the map), move (drag) and delete them
   through POST/PATCH/DELETE /resources with the session cookie. Names are user text: they are
   only ever set with textContent (tooltips and popups get DOM nodes, never HTML strings). */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const data = JSON.parse(document.getElementById("resource-data").textContent);
  // The kind vocabulary (gis/kinds.toml): label, colour, group, marker size, shown at first.
  const kinds = data.kinds.resources;
  const OTHER = data.kinds.other;
  const SALON = data.salon_kind;
  const editor = Boolean(data.editor);
  const statusBox = document.getElementById("resource-status");
  const GSI_PALE = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png";
  const BLANK = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

  const map = L.map("resource-map", { zoomControl: false, zoomSnap: 0.25 });
  L.control.zoom({ zoomInTitle: "拡大", zoomOutTitle: "縮小" }).addTo(map);
  map.attributionControl.setPrefix("<a href=\"https://leafletjs.com\" title=\"地図を描くライブラリ\" target=\"_blank\" rel=\"noopener\">Leaflet</a>");
  // 地理院タイル when the network has them; without them the outlines and points still draw.
  L.tileLayer(GSI_PALE, {
    attribution: "<a href=\"https://maps.gsi.go.jp/development/ichiran.html\" target=\"_blank\" rel=\"noopener\">地理院タイル</a>",
    maxZoom: 18, errorTileUrl: BLANK,
  }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  const markers = new Map();   // resource_id -> marker
  const features = new Map();  // resource_id -> feature
  const groups = new Map();    // kind -> layer group
  let editing = false;

  function kindLabel(kind) { return kinds[kind] ? kinds[kind].label : kind; }
  function kindClass(kind) { return "k-" + (kinds[kind] ? kind : OTHER); }

  // Shown at first: the main layers (gathering places, their halls, food support, mobile sales);
  // the rest are one tap away in the list.
  function shownAtFirst(kind) { return Boolean(kinds[kind] && kinds[kind].shown); }

  function groupOf(kind) {
    if (!groups.has(kind)) {
      const group = L.layerGroup();
      if (shownAtFirst(kind)) { group.addTo(map); }
      groups.set(kind, group);
    }
    return groups.get(kind);
  }

  function icon(kind) {
    const size = kinds[kind] && kinds[kind].marker === "large" ? 22 : 16;
    return L.divIcon({ className: "res-icon " + kindClass(kind), iconSize: [size, size], html: "" });
  }

  function tooltipOf(feature) {
    const el = document.createElement("span");
    el.textContent = feature.properties.name || "（名称なし）";
    return el;
  }

  function popupOf(feature) {
    const p = feature.properties;
    const box = document.createElement("div");
    box.className = "res-popup";
    box.appendChild(T.line("strong", p.name || "（名称なし）", "res-name"));
    box.appendChild(T.line("div", kindLabel(p.kind)));
    if (p.address) { box.appendChild(T.line("div", p.address, "muted small")); }
    if (p.attributes && p.attributes.location_precision) {
      box.appendChild(T.line("div", p.attributes.location_precision, "muted small"));
    }
    if (p.is_sample) { box.appendChild(T.line("div", "サンプルデータ（実在ではありません）", "muted small")); }
    if (editor && editing) {
      const del = T.line("button", "削除する", "btn btn-danger btn-small res-delete");
      del.type = "button";
      del.addEventListener("click", function () { remove(feature.id); });
      box.appendChild(del);
      box.appendChild(T.line("div", "位置はマーカーをドラッグして変えられます", "muted small"));
    }
    return box;
  }

  function place(feature) {
    const id = feature.id;
    const [lon, lat] = feature.geometry.coordinates;
    const marker = L.marker([lat, lon], { icon: icon(feature.properties.kind), draggable: false,
      keyboard: true, title: "", alt: feature.properties.name || "" });
    marker.bindTooltip(tooltipOf(feature), { direction: "top", offset: [0, -10] });
    marker.bindPopup(function () { return popupOf(features.get(id)); });
    marker.on("dragend", function () { move(id, marker); });
    marker.on("add", function () {  // the icon element is made anew each time the marker is shown
      const el = marker.getElement();
      if (el) { el.dataset.resourceId = id; el.dataset.kind = feature.properties.kind; }
    });
    if (editing) { marker.options.draggable = true; }
    marker.addTo(groupOf(feature.properties.kind));
    if (editing && marker.dragging) { marker.dragging.enable(); }
    markers.set(id, marker);
    features.set(id, feature);
    return marker;
  }

  function unplace(id) {
    const marker = markers.get(id);
    if (marker) { marker.remove(); groups.forEach(function (g) { g.removeLayer(marker); }); }
    markers.delete(id);
    features.delete(id);
  }

  // --- list and filter ---------------------------------------------------------------------

  function refreshLists() {
    const counts = {};
    features.forEach(function (f) { counts[f.properties.kind] = (counts[f.properties.kind] || 0) + 1; });
    const filter = document.getElementById("kind-filter");
    const checked = {};
    filter.querySelectorAll("input").forEach(function (i) { checked[i.value] = i.checked; });
    T.clear(filter);
    Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; }).forEach(function (kind) {
      const label = document.createElement("label");
      label.className = "field check";
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = kind;
      input.checked = checked[kind] !== undefined ? checked[kind] : map.hasLayer(groupOf(kind));
      input.addEventListener("change", function () {
        if (input.checked) { groupOf(kind).addTo(map); } else { groupOf(kind).remove(); }
      });
      const swatch = T.line("span", "", "swatch " + kindClass(kind));
      label.appendChild(input);
      label.appendChild(swatch);
      label.appendChild(T.line("span", kindLabel(kind) + "（" + counts[kind] + "）"));
      filter.appendChild(label);
    });
    const list = document.getElementById("salon-list");
    T.clear(list);
    const salons = [];
    features.forEach(function (f) { if (f.properties.kind === SALON) { salons.push(f); } });
    salons.sort(function (a, b) { return String(a.properties.name).localeCompare(String(b.properties.name), "ja"); });
    document.getElementById("salon-count").textContent = salons.length + " か所";
    salons.forEach(function (f) {
      const item = document.createElement("li");
      const button = T.line("button", f.properties.name || "（名称なし）", "link-button");
      button.type = "button";
      button.addEventListener("click", function () {
        const marker = markers.get(f.id);
        if (!marker) { return; }
        groupOf(SALON).addTo(map);
        map.setView(marker.getLatLng(), Math.max(map.getZoom(), 15));
        marker.openPopup();
      });
      item.appendChild(button);
      if (f.properties.is_sample) { item.appendChild(T.line("span", " サンプル", "badge")); }
      list.appendChild(item);
    });
  }

  // --- editing -----------------------------------------------------------------------------

  async function move(id, marker) {
    const feature = features.get(id);
    const to = marker.getLatLng();
    const result = await T.api("PATCH", "/resources/" + encodeURIComponent(id),
      { lon: Number(to.lng.toFixed(7)), lat: Number(to.lat.toFixed(7)) });
    if (result.ok && result.data) {
      features.set(id, result.data);
      T.showStatus(statusBox, "「" + (result.data.properties.name || id) + "」を移動しました");
      return;
    }
    const [lon, lat] = feature.geometry.coordinates;
    marker.setLatLng([lat, lon]);  // back where the server still has it
    T.showError(statusBox, result);
  }

  async function remove(id) {
    const feature = features.get(id);
    const name = (feature && feature.properties.name) || id;
    if (!window.confirm("「" + name + "」を削除しますか？")) { return; }
    const result = await T.api("DELETE", "/resources/" + encodeURIComponent(id));
    if (result.ok) {
      map.closePopup();
      unplace(id);
      refreshLists();
      T.showStatus(statusBox, "「" + name + "」を削除しました");
      return;
    }
    T.showError(statusBox, result);
  }

  function setEditing(on) {
    editing = on;
    document.body.classList.toggle("editing", on);
    markers.forEach(function (marker) {
      marker.options.draggable = on;
      if (marker.dragging) { if (on) { marker.dragging.enable(); } else { marker.dragging.disable(); } }
    });
    map.closePopup();
  }

  if (editor) {
    const toggle = document.getElementById("edit-mode");
    const dialog = document.getElementById("add-dialog");
    const form = document.getElementById("add-form");
    const addError = document.getElementById("add-error");
    let where = null;
    toggle.checked = false;
    toggle.addEventListener("change", function () { setEditing(toggle.checked); });

    map.on("click", function (event) {
      if (!editing) { return; }
      where = event.latlng;
      document.getElementById("add-position").textContent =
        "位置: 緯度 " + where.lat.toFixed(5) + "、経度 " + where.lng.toFixed(5);
      addError.hidden = true;
      form.reset();
      dialog.showModal();
      document.getElementById("add-name").focus();
    });
    document.getElementById("add-cancel").addEventListener("click", function () { dialog.close(); });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const name = document.getElementById("add-name").value.trim();
      if (!name) {
        T.showError(addError, { status: 422, data: { title: "名称を入力してください", message: "", hint: "" } });
        return;
      }
      const save = document.getElementById("add-save");
      save.disabled = true;
      const result = await T.api("POST", "/resources", {
        name: name, kind: document.getElementById("add-kind").value,
        address: document.getElementById("add-address").value.trim(),
        lon: Number(where.lng.toFixed(7)), lat: Number(where.lat.toFixed(7)),
      });
      save.disabled = false;
      if (result.ok && result.data && result.data.id !== undefined) {
        dialog.close();
        const marker = place(result.data);
        groupOf(result.data.properties.kind).addTo(map);
        refreshLists();
        T.showStatus(statusBox, "「" + result.data.properties.name + "」を追加しました");
        marker.openTooltip();
        return;
      }
      T.showError(addError, result);
    });

    const importForm = document.getElementById("import-form");
    importForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = importForm.querySelector("button[type=submit]");
      button.disabled = true;
      button.textContent = "送信しています…";
      const result = await T.api("POST", "/resources/import", new FormData(importForm));
      if (result.ok && result.data && result.data.job_id) {
        window.location.assign("/web/jobs/" + encodeURIComponent(result.data.job_id));
        return;
      }
      button.disabled = false;
      button.textContent = "取り込む";
      T.showError(statusBox, result);
    });
  }

  // --- load --------------------------------------------------------------------------------

  const bounds = L.latLngBounds([]);
  (data.resources.features || []).forEach(function (f) {
    if (!f.geometry || f.geometry.type !== "Point") { return; }
    const marker = place(f);
    bounds.extend(marker.getLatLng());
  });
  refreshLists();
  if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); }
  else { map.setView([34.79, 133.62], 11); }

  // Tier outlines give the map a frame of reference even without base-map tiles.
  const outlineStyle = [{ color: "#555", weight: 1, dashArray: "4 3" }, { color: "#333", weight: 2 }, { color: "#000", weight: 3 }];
  (data.outlines || []).forEach(function (level, i) {
    T.api("GET", "/tiers/" + encodeURIComponent(level.key)).then(function (result) {
      if (!result.ok || !result.data) { return; }
      const style = Object.assign({ fill: false, interactive: false }, outlineStyle[Math.min(i, outlineStyle.length - 1)]);
      const layer = L.geoJSON(result.data, { style: function () { return style; }, interactive: false });
      layer.addTo(map);
      layer.bringToBack();
      if (!bounds.isValid() && i === (data.outlines.length - 1)) { map.fitBounds(layer.getBounds()); }
    });
  });
})();
