/* The dashboard's own small behaviours. No inline scripts anywhere (the CSP forbids them),
   no eval (htmx runs with allowEval off), nothing loaded from elsewhere. */
(function () {
  "use strict";

  // A form answered 422 carries its own inline validation errors: swap it in like a 200.
  // Other errors keep htmx's default (no swap); the page stays as it was.
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false }
    ];
  }

  // Live panels poll with hx-trigger="every 10s"; skip the request while the tab is hidden.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute("data-poll") && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });

  // Copy buttons: <button data-copy="#element-id">; the text of that element is copied.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var done = button.getAttribute("data-copied") || "✓";
      var before = button.textContent;
      button.textContent = done;
      setTimeout(function () { button.textContent = before; }, 1500);
    });
  });
})();

/* Forms that destroy something ask first: <form data-confirm="Really delete?">. Without
   JavaScript the server's own confirmation page does the asking. */
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form && form.hasAttribute && form.hasAttribute("data-confirm")) {
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
}, true);
