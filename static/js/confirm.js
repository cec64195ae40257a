/* The confirmation page behind the link in the sign-up mail: a person's browser submits the
   form (a POST confirms); a mail scanner that only fetches the link confirms nothing. Without
   JavaScript the button does the same. */
(function () {
  "use strict";
  function submitOnce() {
    var form = document.querySelector("form[data-auto-submit]");
    if (!form || form.hasAttribute("data-submitted")) return;
    form.setAttribute("data-submitted", "");
    form.submit();
  }
  function whenVisible() {
    if (document.visibilityState === "visible") {
      submitOnce();
    } else {
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") submitOnce();
      });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", whenVisible);
  } else {
    whenVisible();
  }
})();
