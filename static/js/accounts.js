/*
 * Account pages: the Copy button next to a new API token (data-copy-target="<id of the element whose
 * text to copy>"). No inline scripts, as in plan.js. Delegated from the document, so it works on
 * content htmx swaps in.
 */
(function () {
  "use strict";

  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  function fallbackCopy(element, button) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (document.execCommand("copy")) copied(button);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var element = document.getElementById(button.getAttribute("data-copy-target"));
    if (!element) return;
    var text = element.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () { fallbackCopy(element, button); });
    } else {
      fallbackCopy(element, button);
    }
  });
})();
