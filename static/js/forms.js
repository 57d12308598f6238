/* Behaviour that templates ask for with data- attributes, so that no page needs an inline
   handler (the Content-Security-Policy forbids them, portal/csp.py):
   - <form data-confirm="Sure?">: asks before submitting; cancelled when the answer is no.
   - <select data-autosubmit>: submits its form when the choice changes.
   Bound on the document, so forms that live regions insert later behave the same. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  }, true);
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
    }
  });
})();
