// The first-response countdown of a ticket's page. The server renders the support time
// left (data-left-seconds) and, while support is open, how long it stays open
// (data-open-seconds); the clock runs down only within that time, as support time does.
(function () {
  "use strict";
  var el = document.getElementById("sla-left");
  if (!el) { return; }
  var left = parseInt(el.getAttribute("data-left-seconds"), 10);
  var open = parseInt(el.getAttribute("data-open-seconds"), 10);
  if (isNaN(left) || isNaN(open)) { return; }
  var start = Date.now();
  function text(s) {
    var m = Math.floor(s / 60);
    if (s < 60) { return "less than a minute"; }
    if (m < 60) { return m + " min"; }
    var mm = m % 60;
    return Math.floor(m / 60) + " h " + (mm < 10 ? "0" : "") + mm + " min";
  }
  function tick() {
    var ran = Math.min((Date.now() - start) / 1000, open);
    var s = Math.max(0, Math.floor(left - ran));
    el.textContent = text(s) + " of support time left";
    el.setAttribute("datetime", "PT" + s + "S");
  }
  window.setInterval(tick, 15000);
}());
