// The plan list, live (DESIGN 11): the org's stream (`/api/org/stream?html=1`) sends each plan
// started, changed or archived as an `org_html` event: a <template data-op> with the card rendered
// by the server from the same partial as the page (templates/plans/_plan_card.html).
//   add      a new plan: its card goes first (on the first page), the count goes up
//   update   a plan changed: its card is replaced where it is, if this page shows it
//   archived a plan was archived: it leaves the active view; "Show archived" reloads the results
// The stream URL carries the position the page was rendered at, so nothing falls in between; the
// browser's reconnects send Last-Event-ID. When the stream cannot replay (`reset`), the results
// are loaded again.
(function () {
  "use strict";

  function results() {
    return document.getElementById("plan-results");
  }

  function reloadResults() {
    var current = results();
    if (!current) {
      return;
    }
    fetch(window.location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("plan-results");
        if (fresh && results()) {
          results().replaceWith(fresh);
          if (window.htmx) {
            window.htmx.process(fresh);
          }
        }
      });
  }

  function adjustCount(delta) {
    var count = document.getElementById("plans-count");
    if (count) {
      count.textContent = String(Math.max(0, parseInt(count.textContent, 10) + delta));
    }
  }

  function apply(op) {
    var box = results();
    if (!box) {
      return;
    }
    var planId = op.getAttribute("data-plan");
    var existing = document.getElementById("plan-card-" + planId);
    var kind = op.getAttribute("data-op");
    var card = op.content.firstElementChild;
    if (kind === "update") {
      if (existing && card) {
        existing.replaceWith(card);
      }
    } else if (kind === "add") {
      if (existing || box.getAttribute("data-first-page") !== "1") {
        return;
      }
      var list = document.getElementById("plan-cards");
      if (!list || box.getAttribute("data-show-archived") === "1") {
        reloadResults(); // the empty state, or archived plans listed after the active ones
        return;
      }
      card.classList.add("plan-card-new");
      list.insertBefore(card, list.firstElementChild);
      adjustCount(1);
    } else if (kind === "archived") {
      if (box.getAttribute("data-show-archived") === "1") {
        if (existing) {
          reloadResults();
        }
      } else if (existing) {
        existing.remove();
        adjustCount(-1);
        if (!document.querySelector("#plan-cards .plan-card")) {
          reloadResults(); // "No active plans"
        }
      }
    }
  }

  function connect() {
    var live = document.getElementById("org-live");
    if (!live || !window.EventSource) {
      return;
    }
    var source = new EventSource(live.getAttribute("data-org-stream"));
    source.addEventListener("org_html", function (event) {
      var holder = document.createElement("template");
      holder.innerHTML = event.data;
      holder.content.querySelectorAll("template[data-op]").forEach(apply);
    });
    source.addEventListener("message", function (event) {
      if (event.data && event.data.indexOf('"reset"') !== -1) {
        try {
          if (JSON.parse(event.data).type === "reset") {
            reloadResults();
          }
        } catch (ignored) {
          // not JSON: not ours
        }
      }
    });
    live.setAttribute("data-state", "connecting");
    source.addEventListener("open", function () {
      live.setAttribute("data-state", "live");
    });
    source.addEventListener("error", function () {
      live.setAttribute("data-state", source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
