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
 * 4. Working a plan: the order instructions of live changes (`<template data-op>`, see
 *    plans/fragments.py), the progress line, a step being edited kept when someone else changes it,
 *    drag and drop (SortableJS), the Undo toast.
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
    if (!message || message.type !== "step_html" || typeof message.data !== "string") {
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
    if (!(detail.target instanceof Element) || detail.target.id !== "steps") {
      return; // not the Add Step answer: an edited step replaces itself on purpose
    }
    if (detail.serverResponse.indexOf('class="step"') === -1) {
      return;
    }
    var fragment = fragmentOf(detail.serverResponse);
    var steps = fragment.querySelectorAll(STEP_SELECTOR);
    var dropped = false;
    var partial = isPartial();
    if (partial && steps.length) {
      announce("Step added at the end of the plan (not shown here: Show all steps).");
    }
    for (var i = 0; i < steps.length; i++) {
      if (partial || isKnownStep(steps[i])) {
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
    ["message", "step_html", "plan_html", "archived_html"].forEach(function (name) {
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
      liveBanner("ok", "Live updates are back. Changes made meanwhile have been filled in.", 4000);
    }
  });

  document.addEventListener("htmx:sseError", function () {
    liveIndicator("offline", "Reconnecting…");
    if (!hadError) {
      hadError = true;
      liveBanner(
        "warning",
        "Live updates are interrupted. Reconnecting… Changes made meanwhile will be filled in."
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

  // --- 4. working a plan ---------------------------------------------------------------------------

  function stepElement(id) {
    return id ? document.getElementById("step-" + id) : null;
  }

  function stepsList() {
    return document.getElementById("steps");
  }

  // A long plan's page shows its first steps only (#steps[data-partial]): a step that moves
  // out of them leaves, one that moves in is fetched, new steps (last) are not shown, and the
  // progress line is asked of the server.
  function isPartial() {
    var list = stepsList();
    return !!(list && list.hasAttribute("data-partial"));
  }

  function announce(text) {
    var status = document.getElementById("sr-status");
    var toast = document.getElementById("toast");
    if (status) {
      status.textContent = text;
    }
    if (toast) {
      toast.textContent = text;
      toast.hidden = false;
      window.setTimeout(function () {
        toast.hidden = true;
      }, 4000);
    }
  }

  function fetchStepAfter(list, stepId, afterId) {
    fetch(list.getAttribute("data-step-url") + stepId, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        var incoming = html ? fragmentOf(html).querySelector("li.step") : null;
        if (!incoming || stepElement(stepId) || (afterId && !stepElement(afterId))) {
          return; // gone meanwhile, already here, or its place left the part shown
        }
        var fresh = document.importNode(incoming, true);
        placeAfter(list, fresh, afterId);
        if (window.htmx) {
          window.htmx.process(fresh);
        }
        localizeTimes(fresh);
      });
  }

  var progressTimer = null;
  function refreshProgress() {
    var list = stepsList();
    window.clearTimeout(progressTimer);
    progressTimer = window.setTimeout(function () {
      fetch(list.getAttribute("data-progress-url"), { credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          var fresh = html ? fragmentOf(html).querySelector("#plan-progress") : null;
          var line = document.getElementById("plan-progress");
          if (fresh && line) {
            line.replaceWith(document.importNode(fresh, true));
            var total = document.querySelector("[data-steps-total]");
            if (total) {
              total.textContent = fresh.getAttribute("data-total");
            }
          }
        });
    }, 250);
  }

  function placeAfter(list, element, afterId) {
    var after = stepElement(afterId);
    if (afterId && !after) {
      return false; // this page does not show that step: it is out of date
    }
    if (after) {
      after.after(element);
    } else {
      list.insertBefore(element, list.firstElementChild);
    }
    return true;
  }

  function keepingFocus(element, change) {
    var focused = element.contains(document.activeElement) ? document.activeElement : null;
    change();
    if (focused && document.contains(focused)) {
      focused.focus();
    }
  }

  function editNotice(element, text) {
    var notice = element.querySelector(".step-edit-notice");
    if (notice) {
      notice.textContent = text;
      notice.hidden = false;
    }
  }

  // The order instructions of a live change or of the answer to one's own change. A page that
  // cannot carry one out (it misses the step to put another after) is out of date: reload it.
  function applyOps(root) {
    var ops = root.querySelectorAll("template[data-op]");
    var list = stepsList();
    if (ops.length === 0 || !list) {
      return;
    }
    for (var i = 0; i < ops.length; i++) {
      var op = ops[i].getAttribute("data-op");
      var stepId = ops[i].getAttribute("data-step");
      var afterId = ops[i].getAttribute("data-after");
      var element = stepElement(stepId);
      var ok = true;
      if (op === "move" && element && isPartial() && afterId && !stepElement(afterId)) {
        element.remove(); // it moved past the part this page shows
      } else if (op === "move" && element) {
        keepingFocus(element, function () {
          ok = placeAfter(list, element, afterId);
        });
      } else if (op === "move" && isPartial() && (!afterId || stepElement(afterId))) {
        fetchStepAfter(list, stepId, afterId); // it moved into the part this page shows
      } else if (op === "delete" && element) {
        if (element.classList.contains("step-editing")) {
          editNotice(element, "Someone deleted this step while you were editing it. Your text is kept below; copy it if you need it.");
          element.classList.add("step-gone");
        } else {
          element.remove();
        }
      } else if (op === "place") {
        var incoming = ops[i].content.querySelector("li.step");
        if (incoming) {
          var fresh = document.importNode(incoming, true);
          if (element) {
            element.remove();
          }
          if (isPartial() && afterId && !stepElement(afterId)) {
            continue; // restored past the part this page shows
          }
          ok = placeAfter(list, fresh, afterId);
          if (ok && window.htmx) {
            window.htmx.process(fresh);
            localizeTimes(fresh);
          }
        }
      }
      if (!ok) {
        window.location.reload();
        return;
      }
    }
    updateProgress();
  }

  function updateProgress() {
    var list = stepsList();
    var line = document.getElementById("plan-progress");
    if (!list || !line) {
      return;
    }
    if (isPartial()) {
      refreshProgress();
      return;
    }
    var total = list.querySelectorAll(":scope > li.step").length;
    var done = list.querySelectorAll(':scope > li.step[data-done="true"]').length;
    line.textContent = done + " of " + total + " done";
  }

  // Live changes other than new steps (event `plan_html`): the order instructions here; htmx then
  // does the out-of-band swaps of the same message (the sink swaps nothing itself).
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var message = evt.detail;
    if (message && message.type === "plan_html" && typeof message.data === "string") {
      applyOps(fragmentOf(message.data));
    }
  });

  // The answer to one's own change carries the same instructions.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var detail = evt.detail;
    if (detail.shouldSwap && typeof detail.serverResponse === "string" && detail.serverResponse.indexOf("data-op=") !== -1) {
      applyOps(fragmentOf(detail.serverResponse));
    }
  });

  // A step being edited is not replaced by someone else's change of it: the editor keeps their
  // text and is told, with the other text, and their save then replaces it knowingly (the form
  // takes the new version). While the editor's own save is on its way, its answer replaces it.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!(target instanceof Element) || !target.classList.contains("step-editing")) {
      return;
    }
    evt.detail.shouldSwap = false;
    var form = target.querySelector("form");
    if (form && form.classList.contains("htmx-request")) {
      return;
    }
    var incoming = evt.detail.fragment && evt.detail.fragment.querySelector ? evt.detail.fragment.querySelector("li.step") : null;
    if (!incoming) {
      return;
    }
    var text = incoming.querySelector(".step-text");
    var owner = incoming.querySelector(".step-owner");
    editNotice(
      target,
      "Someone else changed this step while you were editing it. It now says: “" +
        (text ? text.textContent.trim() : "") + "” (owner " + (owner ? owner.textContent.trim() : "") +
        "). Your text is kept below: Save replaces theirs, Cancel keeps it."
    );
    var version = form ? form.querySelector('input[name="version"]') : null;
    if (version) {
      version.value = incoming.getAttribute("data-version");
    }
    target.setAttribute("data-done", incoming.getAttribute("data-done"));
  });

  document.addEventListener("htmx:afterSettle", updateProgress);

  // Who is here (event `presence_html`, swapped out-of-band into #viewers): mark oneself, which
  // the server's fragment (the same for every viewer) cannot.
  function markSelf() {
    var section = document.querySelector(".presence[data-me]");
    if (!section) {
      return;
    }
    var me = section.getAttribute("data-me");
    section.querySelectorAll(".viewer[data-user]").forEach(function (viewer) {
      viewer.classList.toggle("viewer-self", viewer.getAttribute("data-user") === me);
    });
  }
  document.addEventListener("htmx:oobAfterSwap", markSelf);
  document.addEventListener("htmx:afterSettle", markSelf);

  // Editing: Enter saves, Shift+Enter is a new line, Escape cancels.
  document.addEventListener("keydown", function (evt) {
    var field = evt.target;
    if (!(field instanceof HTMLElement) || !field.closest(".step-edit-form")) {
      return;
    }
    var form = field.closest(".step-edit-form");
    if (evt.key === "Escape") {
      evt.preventDefault();
      var cancel = form.querySelector("[data-edit-cancel]");
      if (cancel) {
        cancel.click();
      }
    } else if (evt.key === "Enter" && !evt.shiftKey && field instanceof HTMLTextAreaElement) {
      evt.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("click", function (evt) {
    var target = evt.target instanceof Element ? evt.target : null;
    if (!target) {
      return;
    }
    if (target.closest("[data-toast-close]")) {
      var toast = document.getElementById("toast");
      if (toast) {
        toast.hidden = true;
      }
    }
  });

  // Drag and drop: a drop is posted as a move after the step now before it (none: first). The
  // server's answer carries the same move, which changes nothing more here; a refused move (the
  // plan was archived, the step deleted) reloads the page to show the real order.
  function startSortable(root) {
    var list = root.querySelector ? root.querySelector("#steps") : null;
    var section = list ? list.closest(".steps-section") : null;
    if (!list || !section || section.classList.contains("read-only") || typeof window.Sortable !== "function") {
      return;
    }
    if (list.getAttribute("data-sortable") === "on") {
      return;
    }
    list.setAttribute("data-sortable", "on");
    window.Sortable.create(list, {
      handle: ".step-handle",
      draggable: "li.step",
      filter: ".step-editing",
      animation: 120,
      onEnd: function (evt) {
        if (evt.oldIndex === evt.newIndex || !window.htmx) {
          return;
        }
        var item = evt.item;
        var before = item.previousElementSibling;
        window.htmx
          .ajax("POST", item.getAttribute("data-move-url"), {
            source: item,
            swap: "none",
            values: { after: before ? before.getAttribute("data-step-id") : "" },
          })
          .catch(function () {
            window.location.reload();
          });
      },
    });
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var source = evt.detail && evt.detail.elt;
    if (source instanceof Element && source.matches("li.step[data-move-url]")) {
      window.location.reload();
    }
  });

  // Archived while open: the page turns read-only. A draft being typed in Add Step (or in an edit)
  // stays visible with a notice, so that nobody loses what they wrote; an empty form goes away.
  function turnReadOnly() {
    var section = document.querySelector(".steps-section");
    if (section) {
      section.classList.add("read-only");
    }
    var forms = document.querySelectorAll("#add-step-form, .step-edit-form");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      var text = form.querySelector("textarea");
      if (!text || !text.value.trim()) {
        form.remove();
        continue;
      }
      var fields = form.querySelectorAll("input, textarea, button, select");
      for (var j = 0; j < fields.length; j++) {
        if (fields[j].tagName === "TEXTAREA") {
          fields[j].readOnly = true;
        } else {
          fields[j].disabled = true;
        }
      }
      var notice = document.createElement("p");
      notice.className = "banner banner-warning";
      notice.setAttribute("role", "alert");
      notice.textContent = "This plan was archived while you were writing. Your text is kept here so you can copy it; it can no longer be added.";
      form.insertBefore(notice, form.firstChild);
    }
  }

  document.addEventListener("htmx:sseMessage", function (evt) {
    updateProgress();
    if (evt.detail && evt.detail.type === "archived_html") {
      turnReadOnly();
    }
  });

  // A change that could not be sent (the server is away) is said so, never silently dropped: the
  // Add Step form keeps its text, a ticked box goes back to what the server has.
  function showError(text) {
    var toast = document.getElementById("toast");
    if (!toast) {
      return;
    }
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = "";
    var message = document.createElement("span");
    message.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-icon";
    close.setAttribute("data-toast-close", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    toast.appendChild(message);
    toast.appendChild(close);
    toast.hidden = false;
  }

  function notSent(evt) {
    var source = evt.detail && evt.detail.elt;
    if (!(source instanceof Element)) {
      return;
    }
    if (source.matches("input.step-check")) {
      source.checked = !source.checked;
    }
    var form = source.closest("#add-step-form");
    if (form) {
      var errors = form.querySelector(".send-error");
      if (!errors) {
        errors = document.createElement("p");
        errors.className = "send-error field-error";
        errors.setAttribute("role", "alert");
        form.insertBefore(errors, form.querySelector(".form-actions"));
      }
      errors.textContent = "Not sent: the server cannot be reached. Your step is kept here; send it again when the connection is back.";
      return;
    }
    if (source.closest(".steps-section, .plan-header-actions, .dialog")) {
      showError("Not saved: the server cannot be reached. Try again when the connection is back.");
    }
  }
  document.addEventListener("htmx:sendError", notSent);
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail && evt.detail.elt instanceof Element ? evt.detail.elt.closest("#add-step-form") : null;
    if (form && evt.detail.successful) {
      var stale = document.querySelector("#add-step-form .send-error");
      if (stale) {
        stale.remove();
      }
    }
  });

  // Copy link: the plan's address, for a teammate (any member of the plan's org can open it).
  document.addEventListener("click", function (evt) {
    var button = evt.target instanceof Element ? evt.target.closest("[data-copy-link]") : null;
    if (!button) {
      return;
    }
    var url = window.location.origin + window.location.pathname;
    var done = function () {
      button.textContent = "Link copied";
      window.setTimeout(function () {
        button.textContent = "Copy link";
      }, 2000);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(done, function () {
        window.prompt("Copy this link:", url);
      });
    } else {
      window.prompt("Copy this link:", url);
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
    startSortable(document);
  });
})();
