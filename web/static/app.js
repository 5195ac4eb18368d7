/* Every page: the notification bell, and form fields shown only for some answers (data-visible-field).
   Loaded at the end of <body>; the Content-Security-Policy allows scripts from this site only. */
(function () {
  // forms that ask before they act (data-confirm holds the question)
  document.addEventListener('submit', function (e) {
    var question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.querySelectorAll('details.bell').forEach(function (d) {
    d.addEventListener('toggle', function () {
      if (!d.open) return;
      var menu = d.querySelector('#bell-menu');
      fetch(menu.dataset.src, {credentials: 'same-origin'}).then(function (r) { return r.text(); })
        .then(function (html) { menu.innerHTML = html; });
    });
  });

  function current(name) {
    var els = document.getElementsByName(name), out = null;
    els.forEach(function (el) {
      if ((el.type === 'radio' || el.type === 'checkbox') ? el.checked : true) out = el.value;
    });
    if (out === 'true') return true; if (out === 'false') return false; if (out === '') return null;
    return out;
  }
  function refresh() {
    document.querySelectorAll('[data-visible-field]').forEach(function (box) {
      var show = JSON.parse(box.dataset.visibleValues).indexOf(current(box.dataset.visibleField)) >= 0;
      box.style.display = show ? '' : 'none';
      box.querySelectorAll('input,select,textarea').forEach(function (el) { el.disabled = !show; });
    });
  }
  if (document.querySelector('[data-visible-field]')) {
    document.addEventListener('change', refresh);
    refresh();
  }
})();
