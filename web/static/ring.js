// The ring monitor's live updates: polls GET /ring/live (the same HTML fragment the page was
// rendered with) and swaps it in. Without this file the page refreshes itself (meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("ring-live");
  if (!box) return;
  var url = box.getAttribute("data-live-url");
  var failures = 0;
  var poll = function () {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          failures = 0;
          box.innerHTML = html;
          box.removeAttribute("data-stale");
        }
        setTimeout(poll, 1000);
      })
      .catch(function () {
        failures += 1;
        box.setAttribute("data-stale", "true");
        setTimeout(poll, Math.min(10000, 1000 * (failures + 1)));
      });
  };
  setTimeout(poll, 1000);
})();
