/* Forms: the required mark (*) of a field required only for some answers (data-required-field) shows as
   soon as the answer makes it required, before the form is sent. Loaded by the pages with a form; the
   Content-Security-Policy allows scripts from this site only. */
(function () {
  function current(name) {
    var out = null;
    document.getElementsByName(name).forEach(function (el) {
      if (el.disabled) return;
      if ((el.type === 'radio' || el.type === 'checkbox') ? el.checked : true) out = el.value;
    });
    if (out === 'true') return true; if (out === 'false') return false; if (out === '') return null;
    return out;
  }
  function refresh() {
    document.querySelectorAll('[data-required-field]').forEach(function (box) {
      var needed = JSON.parse(box.dataset.requiredValues).indexOf(current(box.dataset.requiredField)) >= 0;
      box.querySelectorAll('.required-mark').forEach(function (mark) { mark.hidden = !needed; });
      box.classList.toggle('is-required', needed);
    });
  }
  if (document.querySelector('[data-required-field]')) {
    document.addEventListener('change', refresh);
    document.addEventListener('input', refresh);
    refresh();
  }
})();
