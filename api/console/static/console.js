/* tierflow console: live SLA countdowns in business time. The page works without this script;
   it only rewrites the text of <time data-due> elements every second. The server wrote into
   each one the business seconds left when the page was rendered (data-left, at data-at), the
   calendar's working day (data-day, seconds) and the working stretches of the next 48 hours
   (data-working, "from-to" epoch seconds): business time passes only inside them. The words
   come from the page's language (<html data-countdown>). */
(function () {
  "use strict";

  var words = {};

  function fill(template, key, value) { return template.split("{" + key + "}").join(String(value)); }

  function span(seconds, day) {
    var s = Math.floor(Math.abs(seconds));
    var d = day > 0 ? Math.floor(s / day) : 0;
    var rest = s - d * day;
    var h = Math.floor(rest / 3600), m = Math.floor((rest % 3600) / 60), r = rest % 60;
    if (d) {
      var parts = [fill(words.day[d === 1 ? 0 : 1], "n", d)];
      if (h) { parts.push(fill(words.hour, "n", h)); }
      return parts.join(" ");
    }
    if (h) { return fill(words.hour, "n", h) + " " + fill(words.minute, "n", m); }
    if (m) { return fill(words.minute, "n", m) + " " + fill(words.second, "n", r); }
    return fill(words.second, "n", r);
  }

  function stretches(text) {
    var out = [];
    (text || "").split(",").forEach(function (pair) {
      var ab = pair.split("-");
      if (ab.length === 2) { out.push([Number(ab[0]), Number(ab[1])]); }
    });
    return out;
  }

  /* business seconds in [from, to) (epoch seconds) inside the working stretches */
  function worked(list, from, to) {
    var total = 0;
    for (var i = 0; i < list.length; i++) {
      var a = Math.max(list[i][0], from), b = Math.min(list[i][1], to);
      if (b > a) { total += b - a; }
    }
    return total;
  }

  function tick() {
    var now = Date.now() / 1000;
    var nodes = document.querySelectorAll("time[data-due][data-left]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var at = Date.parse(el.getAttribute("data-at")) / 1000;
      var left = Number(el.getAttribute("data-left"));
      if (isNaN(at) || isNaN(left)) { continue; }
      left -= worked(stretches(el.getAttribute("data-working")), at, now);
      var text = span(left, Number(el.getAttribute("data-day")));
      text = fill(left >= 0 ? words.left : words.overdue, "span", text);
      if (el.textContent !== text) { el.textContent = text; }
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600);
    }
  }

  /* The session ends after data-idle-seconds without a page opened: two minutes before, a
     dialog says so and offers to keep working (a request that renews the session), so that
     a long reply typed on one page is not refused and lost. */
  var LEAD = 120;

  function watchIdle() {
    var idle = Number(document.documentElement.getAttribute("data-idle-seconds"));
    var box = document.getElementById("session-warning");
    if (!idle || !box) { return; }
    var button = box.querySelector("[data-keepalive]");
    var text = document.getElementById("session-warning-text");
    var signIn = box.querySelector("[data-sign-in]");
    var warnTimer, endTimer, before = null;

    function ended() {
      text.textContent = text.getAttribute("data-ended");
      button.hidden = true;
      signIn.hidden = false;
      box.hidden = false;
      signIn.focus();
    }

    function warn() {
      before = document.activeElement;
      box.hidden = false;
      button.focus();
    }

    function arm() {
      window.clearTimeout(warnTimer);
      window.clearTimeout(endTimer);
      warnTimer = window.setTimeout(warn, Math.max(idle - LEAD, idle / 2) * 1000);
      endTimer = window.setTimeout(ended, idle * 1000);
    }

    button.addEventListener("click", function () {
      fetch(button.getAttribute("data-keepalive"), { credentials: "same-origin", redirect: "manual" })
        .then(function (answer) {
          if (answer.status !== 204) { ended(); return; }
          box.hidden = true;
          if (before && before.focus) { before.focus(); }
          arm();
        })
        .catch(ended);
    });
    arm();
  }

  function start() {
    document.documentElement.classList.add("js");
    /* a page that answers a refused form brings its reader to what went wrong */
    var problem = document.querySelector("[data-focus-on-load]");
    if (problem) { problem.focus(); }
    watchIdle();
    try {
      words = JSON.parse(document.documentElement.getAttribute("data-countdown") || "{}");
    } catch (e) {
      return;
    }
    if (!words.day || !words.left) { return; }
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
