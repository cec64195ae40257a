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
  // The button that submitted may ask instead (one form, a harmless and a harmful button).
  var button = event.submitter;
  if (button && button.hasAttribute && button.hasAttribute("data-confirm")) form = button;
  if (form && form.hasAttribute && form.hasAttribute("data-confirm")) {
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
}, true);

/* Small screens: the navigation folds behind the menu button (CSS does the folding only
   when this script runs, marked by html.js; without JavaScript the links simply wrap).
   The header is swapped with the body on boosted navigation, so listen on the document. */
document.documentElement.classList.add("js");
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest(".nav-toggle") : null;
  if (!button) return;
  var header = button.closest(".site-header");
  var open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", open ? "true" : "false");
  header.classList.toggle("menu-open", open);
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  var button = document.querySelector('.nav-toggle[aria-expanded="true"]');
  if (!button) return;
  button.setAttribute("aria-expanded", "false");
  button.closest(".site-header").classList.remove("menu-open");
  button.focus();
});

/* Tables turn into one card per row on a phone: each cell gets its column's name
   (data-label, shown by CSS). A table that still scrolls in its wrapper can be reached
   and scrolled with the keyboard. */
(function () {
  "use strict";
  function label(root) {
    root.querySelectorAll(".table-wrap > table").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      if (!heads.length) return;
      table.classList.add("stacked");
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (!cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", cell.colSpan > 1 ? "" : heads[column] || "");
          }
          column += cell.colSpan || 1;
        });
      });
    });
    focusable();
  }
  function focusable() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
      } else if (wrap.getAttribute("tabindex") === "0") {
        wrap.removeAttribute("tabindex");
      }
    });
  }
  label(document);
  document.addEventListener("htmx:afterSettle", function () {
    label(document);
  });
  var timer = 0;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(focusable, 100);
  });
})();
