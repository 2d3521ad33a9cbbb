/* 解析: the forms post themselves (POST /web/analyses/<name>); this script draws their small maps:
   shops to close (click a shop to tick it in the list) and points to add (click the map). No user
   text is written as HTML: names go through textContent and input values. */
(function () {
  "use strict";
  const GSI_PALE = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png";
  const BLANK = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
  const dataNode = document.getElementById("analysis-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : { bounds: null, shops: [] };

  function baseMap(node) {
    const map = L.map(node, { zoomControl: false, zoomSnap: 0.25 });
    L.control.zoom({ zoomInTitle: "拡大", zoomOutTitle: "縮小" }).addTo(map);
    map.attributionControl.setPrefix("<a href=\"https://leafletjs.com\" title=\"地図を描くライブラリ\" target=\"_blank\" rel=\"noopener\">Leaflet</a>");
    L.tileLayer(GSI_PALE, {
      attribution: "<a href=\"https://maps.gsi.go.jp/development/ichiran.html\" target=\"_blank\" rel=\"noopener\">地理院タイル</a>",
      maxZoom: 18, errorTileUrl: BLANK,
    }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    const b = data.bounds;
    if (b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); } else { map.setView([34.8, 133.6], 11); }
    return map;
  }

  // shops in their kind's colour (gis/kinds.toml via the page data); a chosen shop or an added point dark and larger
  function shopStyle(shop) {
    const kind = (data.kinds || {})[shop.kind];
    return { radius: 6, color: kind ? kind.colour : "#555555", weight: 2, fillColor: "#ffffff", fillOpacity: 0.9 };
  }
  const CLOSED = { radius: 9, color: "#222222", weight: 3, fillColor: "#222222", fillOpacity: 0.75 };

  function shopPicker(fieldset) {
    const node = fieldset.querySelector("[data-picker='shops']");
    const map = baseMap(node);
    const boxes = {};
    fieldset.querySelectorAll("input[type=checkbox]").forEach(function (box) { boxes[box.value] = box; });
    data.shops.forEach(function (shop) {
      const box = boxes[shop.id];
      if (!box) { return; }
      const SHOP = shopStyle(shop);
      const marker = L.circleMarker([shop.lat, shop.lon], box.checked ? CLOSED : SHOP).addTo(map);
      const label = document.createElement("span");  // a node, never an HTML string (shop names are user data)
      label.textContent = shop.caption;
      marker.bindTooltip(label);
      function paint() { marker.setStyle(box.checked ? CLOSED : SHOP); }
      marker.on("click", function () {
        box.checked = !box.checked;
        paint();
        const list = box.closest(".shop-list");
        const row = box.closest("label");
        if (list && row) { list.scrollTop = row.offsetTop - list.offsetTop - list.clientHeight / 3; }  // show it in the list
      });
      box.addEventListener("change", paint);
    });
    return map;
  }

  function pointRow(list, lat, lon) {
    const name = list.dataset.name;
    const row = document.createElement("li");
    row.className = "point-row";
    const label = document.createElement("input");
    label.type = "text";
    label.name = name + ".name";
    label.value = list.dataset.prefix + (list.children.length + 1);
    label.setAttribute("aria-label", "名前");
    row.appendChild(label);
    if (list.dataset.days === "yes") {
      const days = document.createElement("input");
      days.type = "text";
      days.name = name + ".days";
      days.placeholder = "曜日";
      days.setAttribute("aria-label", "曜日");
      row.appendChild(days);
    }
    [["lon", lon], ["lat", lat]].forEach(function (pair) {
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = name + "." + pair[0];
      hidden.value = pair[1].toFixed(6);
      row.appendChild(hidden);
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-quiet remove-point";
    remove.textContent = "削除";
    row.appendChild(remove);
    list.appendChild(row);
    return row;
  }

  function pointPicker(fieldset) {
    const node = fieldset.querySelector("[data-picker='points']");
    const list = fieldset.querySelector(".point-list");
    const map = baseMap(node);
    const markers = new Map();

    function place(row) {
      const lat = Number(row.querySelector("input[name$='.lat']").value);
      const lon = Number(row.querySelector("input[name$='.lon']").value);
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) { return; }
      const marker = L.circleMarker([lat, lon], CLOSED).addTo(map);
      markers.set(row, marker);
    }

    list.querySelectorAll(".point-row").forEach(place);
    map.on("click", function (event) {
      place(pointRow(list, event.latlng.lat, event.latlng.lng));
    });
    list.addEventListener("click", function (event) {
      const button = event.target.closest(".remove-point");
      if (!button) { return; }
      const row = button.closest(".point-row");
      const marker = markers.get(row);
      if (marker) { map.removeLayer(marker); markers.delete(row); }
      row.remove();
    });
    return map;
  }

  document.querySelectorAll(".map-field").forEach(function (fieldset) {
    if (typeof L === "undefined") { return; }
    const map = fieldset.dataset.kind === "shops" ? shopPicker(fieldset) : pointPicker(fieldset);
    fieldset.dataset.ready = "yes";
    window.setTimeout(function () { map.invalidateSize(); }, 200);
  });

  document.querySelectorAll(".analysis-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      const button = form.querySelector(".run-button");
      window.setTimeout(function () {
        button.disabled = true;
        button.textContent = "開始しています…";
      }, 0);
    });
  });
})();
