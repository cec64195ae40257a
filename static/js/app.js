/* The dashboard's own small behaviours. No inline scripts anywhere (the CSP forbids them),
   no eval (htmx runs with allowEval off), nothing loaded from elsewhere. */
(function () {
  "use strict";

  // Every answer is shown, errors included: a form answered 401/422/429 carries its own
  // message, an error page says what went wrong (htmx 2 would otherwise drop 4xx/5xx and
  // the page would sit still). A failed fragment request gets its message put into the
  // flash area by the server (HX-Retarget), never into the panel that asked.
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[2345]..", swap: true },
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
