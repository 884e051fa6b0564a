/* tierflow console: live SLA countdowns. The page works without this script; it only
   rewrites the text of <time data-due> elements every second from their absolute instants. */
(function () {
  "use strict";

  function part(n, unit) { return n + " " + unit; }

  function duration(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (x) { return (x < 10 ? "0" : "") + x; };
    if (d) { return part(d, "d") + " " + part(h, "h"); }
    if (h) { return part(h, "h") + " " + pad(m) + " min"; }
    if (m) { return part(m, "min") + " " + pad(r) + " s"; }
    return part(r, "s");
  }

  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll("time[data-due]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var left = (due - now) / 1000;
      var text = left >= 0 ? "due in " + duration(left) : "overdue by " + duration(left);
      if (el.textContent !== text) { el.textContent = text; }
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600);
    }
  }

  function start() {
    document.documentElement.classList.add("js");
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
