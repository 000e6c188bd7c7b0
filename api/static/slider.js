// The "as of" slider: show which step the thumb is on while it moves; load that step on release.
// Without JavaScript the form's button and the list of steps do the same.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    var range = form.querySelector("input[type=range]");
    var output = form.querySelector("output");
    if (!range) { return; }
    range.addEventListener("input", function () {
      var item = document.querySelector('.steps li[data-version="' + range.value + '"] .label');
      if (output && item) { output.textContent = range.value + "/" + range.max + " · " + item.textContent; }
    });
    range.addEventListener("change", function () { form.submit(); });
  });
});
