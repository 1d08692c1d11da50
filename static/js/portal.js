/* Bud Portal: the little JavaScript the pages need on top of htmx. No build step. */
(function () {
  "use strict";

  // Plain forms with data-confirm ask first (Delete buttons work even before htmx has loaded).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // The page's few interactions live here rather than in hx-on / onclick attributes: the Content-Security-Policy
  // allows no inline code. A "Remove component" button removes its editor row, after asking.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-remove-row]");
    if (button && window.confirm(button.getAttribute("data-remove-row"))) {
      var row = button.closest(".component-row");
      if (row) { row.remove(); }
    }
  });

  // After "+ Add component" the new row's first field takes the focus.
  document.addEventListener("htmx:afterRequest", function (event) {
    var source = event.detail && event.detail.elt;
    var selector = source && source.getAttribute && source.getAttribute("data-focus-added");
    if (!selector || !event.detail.successful) { return; }
    var rows = document.querySelectorAll(selector);
    var field = rows.length ? rows[rows.length - 1].querySelector("input:not([type=hidden]), select, textarea") : null;
    if (field) { field.focus(); }
  });

  // Live streams: remember the last event id per stream, so a stream that htmx re-opens itself (after the
  // browser gave up) resumes where it stopped, as the browser's own reconnect does with Last-Event-ID.
  var lastIds = {};

  function streamKey(url) {
    var u = new URL(url, window.location.href);
    return u.pathname;
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var message = event.detail;
    var source = event.target.closest("[sse-connect]");
    if (!message || !message.lastEventId || !source) { return; }
    var key = streamKey(source.getAttribute("sse-connect"));
    var id = parseInt(message.lastEventId, 10);
    // A replayed event already on the page (its log line exists) is not added twice.
    if (event.target.id === "event-log" && document.getElementById("ev-" + id)) {
      event.preventDefault();
    }
    if (!lastIds[key] || id > lastIds[key]) { lastIds[key] = id; }
  });

  function installEventSourceFactory() {
    if (!window.htmx) { return; }
    window.htmx.createEventSource = function (url) {
      var u = new URL(url, window.location.href);
      var last = lastIds[u.pathname];
      if (last) { u.searchParams.set("last_event_id", String(last)); }
      return new EventSource(u.toString(), { withCredentials: true });
    };
  }

  // The event log is newest first: keep the newest line in view unless the reader scrolled down to older ones.
  document.addEventListener("htmx:sseMessage", function (event) {
    var log = document.getElementById("event-log");
    if (log && event.target === log && log.scrollTop < 80) { log.scrollTop = 0; }
  });

  // The bell's dropdown (<details class="bell-menu">) closes on a click elsewhere and on Escape, like a menu.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.bell-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll("details.bell-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });

  // Copy buttons (data-copy), e.g. a cluster-internal endpoint and its kubectl port-forward. The clipboard API
  // needs a secure context (https or localhost); elsewhere the text is selected for Ctrl+C.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var say = function (words) {
      button.textContent = words;
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say("Copied"); }, function () { say("Copy failed"); });
      return;
    }
    var code = button.previousElementSibling;
    if (code) {
      var range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      say("Press Ctrl+C");
    }
  });

  // After a submit that failed validation, focus goes to the first field in error, so keyboard and screen
  // reader users land on it (forms re-render with .field.invalid / aria-invalid, or an .error-box).
  function focusFirstError(root) {
    var field = root.querySelector(
      "form .field.invalid input, form .field.invalid select, form .field.invalid textarea, form [aria-invalid='true']");
    if (field) { field.focus(); return; }
    var box = root.querySelector("form .error-box");
    if (box) {
      box.setAttribute("tabindex", "-1");
      box.focus();
    }
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    if (config && config.verb === "post" && config.elt && config.elt.tagName === "FORM") {
      focusFirstError(event.detail.target || document);
    }
  });

  // Running clocks on the deployment page: a step (graph node or uninstall row) with data-started and no
  // data-completed counts up once a second. The server re-renders the nodes on every state push, so this only
  // fills the seconds in between.
  function formatSeconds(total) {
    total = Math.max(0, Math.round(total));
    if (total < 60) { return total + " s"; }
    var minutes = Math.floor(total / 60);
    return minutes < 60 ? minutes + " min " + (total % 60) + " s" : Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }
  function tickClocks() {
    var now = Date.now();
    document.querySelectorAll(".node-timer[data-started], .step-timer[data-started]").forEach(function (el) {
      if (el.hasAttribute("data-completed")) { return; }
      var started = Date.parse(el.getAttribute("data-started"));
      if (!isNaN(started)) { el.textContent = formatSeconds((now - started) / 1000); }
    });
  }

  function ready() {
    installEventSourceFactory();
    focusFirstError(document);
    tickClocks();
    window.setInterval(tickClocks, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
