/*
 * Live Plan Mode page behaviour, on top of htmx 2 and htmx-ext-sse 2 (static/vendor/).
 * Kept out of the templates (no inline scripts or handlers) so that a Content-Security-Policy
 * without 'unsafe-inline' can be added later.
 *
 * 1. No step twice. A step can reach the page three ways: rendered with the page, appended from the
 *    Add Step response (its author), and streamed to every viewer (the author too, and again after a
 *    reconnect that replays from ?lastEventId=). Every step element is <li class="step" id="step-<uuid>">;
 *    whichever copy arrives second is dropped, in either order.
 * 2. The live connection's state: an indicator, and a banner when it drops and when it comes back.
 * 3. Small things: the archive confirmation <dialog>, Ctrl/Cmd+Enter to send, times in local time.
 */
(function () {
  "use strict";

  var STEP_SELECTOR = "li.step[id]";

  function fragmentOf(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function isKnownStep(element) {
    return document.getElementById(element.id) !== null;
  }

  // --- 1. de-duplication ------------------------------------------------------------------------

  // A streamed step (event `step_html`, one <li> per event): cancel the swap if it is already shown.
  // htmx-ext-sse fires htmx:sseBeforeMessage with the MessageEvent as detail; preventDefault() stops
  // the swap.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var message = evt.detail;
    if (!message || typeof message.data !== "string") {
      return;
    }
    var steps = fragmentOf(message.data).querySelectorAll(STEP_SELECTOR);
    if (steps.length === 0) {
      return;
    }
    for (var i = 0; i < steps.length; i++) {
      if (!isKnownStep(steps[i])) {
        return;
      }
    }
    evt.preventDefault();
  });

  // The Add Step response (the new step plus a fresh form out-of-band): if the stream was faster,
  // drop only the step and still swap the fresh form.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var detail = evt.detail;
    if (!detail.shouldSwap || typeof detail.serverResponse !== "string") {
      return;
    }
    if (detail.serverResponse.indexOf('class="step"') === -1) {
      return;
    }
    var fragment = fragmentOf(detail.serverResponse);
    var steps = fragment.querySelectorAll(STEP_SELECTOR);
    var dropped = false;
    for (var i = 0; i < steps.length; i++) {
      if (isKnownStep(steps[i])) {
        steps[i].remove();
        dropped = true;
      }
    }
    if (dropped) {
      var holder = document.createElement("div");
      holder.appendChild(fragment);
      detail.serverResponse = holder.innerHTML;
    }
  });

  // --- 2. the live connection ---------------------------------------------------------------------

  var hadError = false;
  var bannerTimer = null;
  var trackedSources = typeof WeakSet === "function" ? new WeakSet() : null;

  function liveIndicator(state, text) {
    var pill = document.getElementById("live-indicator");
    if (pill) {
      pill.setAttribute("data-state", state);
      pill.textContent = text;
    }
  }

  function liveBanner(kind, text, hideAfterMs) {
    var banner = document.getElementById("live-banner");
    if (!banner) {
      return;
    }
    window.clearTimeout(bannerTimer);
    banner.className = "banner banner-" + kind;
    banner.textContent = text;
    banner.hidden = false;
    if (hideAfterMs) {
      bannerTimer = window.setTimeout(function () {
        banner.hidden = true;
      }, hideAfterMs);
    }
  }

  // When htmx-ext-sse gives up on an EventSource (it closed), it opens a new one from the
  // sse-connect URL. Keep that URL's lastEventId at the last event received, so the new connection
  // resumes there instead of replaying everything since the page was rendered. (The browser's own
  // reconnects send the Last-Event-ID header, which the server prefers anyway.)
  function rememberLastEventId(connectElement, source) {
    if (!trackedSources || trackedSources.has(source)) {
      return;
    }
    trackedSources.add(source);
    var remember = function (event) {
      if (!event.lastEventId) {
        return;
      }
      var url = new URL(connectElement.getAttribute("sse-connect"), window.location.href);
      url.searchParams.set("lastEventId", event.lastEventId);
      connectElement.setAttribute("sse-connect", url.pathname + url.search);
    };
    ["message", "step_html", "archived_html"].forEach(function (name) {
      source.addEventListener(name, remember);
    });
    // The server could not replay what this page missed (its stored events were trimmed): the
    // page itself is the complete state, so load it again.
    source.addEventListener("message", function (event) {
      if (event.data && event.data.indexOf('"reset"') !== -1) {
        try {
          if (JSON.parse(event.data).type === "reset") {
            window.location.reload();
          }
        } catch (ignored) {
          // not JSON: not ours
        }
      }
    });
  }

  document.addEventListener("htmx:sseOpen", function (evt) {
    if (evt.detail && evt.detail.source && evt.target instanceof Element) {
      rememberLastEventId(evt.target, evt.detail.source);
    }
    liveIndicator("live", "Live");
    if (hadError) {
      hadError = false;
      liveBanner("ok", "Live updates are back. Steps added meanwhile have been filled in.", 4000);
    }
  });

  document.addEventListener("htmx:sseError", function () {
    liveIndicator("offline", "Reconnecting…");
    if (!hadError) {
      hadError = true;
      liveBanner(
        "warning",
        "Live updates are interrupted. Reconnecting… Steps you add are still saved."
      );
    }
  });

  document.addEventListener("htmx:sseClose", function (evt) {
    var type = evt.detail && evt.detail.type;
    if (type === "message") {
      // closed by sse-close="archived_html": the plan is read-only now, nothing more will come
      liveIndicator("closed", "Archived");
    }
  });

  // --- 3. small things ----------------------------------------------------------------------------

  document.addEventListener("click", function (evt) {
    var target = evt.target instanceof Element ? evt.target : null;
    if (!target) {
      return;
    }
    var opener = target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && typeof dialog.showModal === "function") {
        dialog.showModal();
      }
      return;
    }
    var closer = target.closest("[data-dialog-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) {
        open.close();
      }
    }
  });

  document.addEventListener("keydown", function (evt) {
    var field = evt.target;
    if (
      evt.key === "Enter" &&
      (evt.ctrlKey || evt.metaKey) &&
      field instanceof HTMLTextAreaElement &&
      field.hasAttribute("data-submit-on-enter") &&
      field.form
    ) {
      evt.preventDefault();
      field.form.requestSubmit();
    }
  });

  var timeFormat =
    typeof Intl === "object" && Intl.DateTimeFormat
      ? new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" })
      : null;

  function localizeTimes(root) {
    if (!timeFormat || !root.querySelectorAll) {
      return;
    }
    var times = root.querySelectorAll("time[data-local-time]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        times[i].textContent = timeFormat.format(when);
        times[i].removeAttribute("data-local-time");
      }
    }
  }

  // Close the account menu when clicking elsewhere or pressing Escape.
  function closeMenus(except) {
    var menus = document.querySelectorAll("details.user-menu[open]");
    for (var i = 0; i < menus.length; i++) {
      if (menus[i] !== except) {
        menus[i].removeAttribute("open");
      }
    }
  }
  document.addEventListener("click", function (evt) {
    var inside = evt.target instanceof Element ? evt.target.closest("details.user-menu") : null;
    closeMenus(inside);
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") {
      closeMenus(null);
    }
  });

  // htmx:load fires for the page once htmx is ready and for every piece of swapped-in content
  // (streamed steps included).
  document.addEventListener("htmx:load", function (evt) {
    var root = evt.target instanceof Element ? evt.target : document;
    localizeTimes(root);
  });
  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
  });
})();
