/* Every page: the notification bell, and form fields shown only for some answers (data-visible-field).
   Loaded at the end of <body>; the Content-Security-Policy allows scripts from this site only. */
(function () {
  // forms that ask before they act (data-confirm holds the question)
  document.addEventListener('submit', function (e) {
    var question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.querySelectorAll('details.bell').forEach(function (d) {
    var menu = d.querySelector('#bell-menu');
    function load() {
      fetch(menu.dataset.src, {credentials: 'same-origin'}).then(function (r) { return r.text(); })
        .then(function (html) { menu.innerHTML = html; });
    }
    d.addEventListener('toggle', function () { if (d.open) load(); });
    // the count follows new notifications without a reload: a small JSON summary every POLL_MS
    var count = d.querySelector('#count-unread'), latest = null, POLL_MS = 15000;
    function poll() {
      if (document.hidden) return;
      fetch(d.dataset.poll, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) return;
          count.textContent = body.unread;
          count.classList.toggle('has-unread', body.unread > 0);
          if (latest !== null && body.latest !== latest && d.open) load();
          latest = body.latest;
        }).catch(function () {});
    }
    if (d.dataset.poll && count) {
      var every = parseInt(d.dataset.pollMs || '', 10) || POLL_MS;
      poll();
      window.setInterval(poll, every);
      document.addEventListener('visibilitychange', poll);
    }
  });

  // narrow screens: each table row becomes a card, each cell labelled with its column's heading
  document.querySelectorAll('table').forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll('thead th'), function (th) {
      return th.textContent.trim();
    });
    if (!heads.length) return;
    table.classList.add('stack');
    table.querySelectorAll('tbody tr').forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (heads[i] && !td.hasAttribute('data-label') && !td.hasAttribute('colspan')) td.setAttribute('data-label', heads[i]);
      });
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
  // person pickers (data-filter holds the hint): a search box above keeps only the options containing what is
  // typed — e.g. the experts of one field of expertise, shown as "name（fields）"; the chosen one always stays
  document.querySelectorAll('select[data-filter]').forEach(function (select) {
    var box = document.createElement('input');
    box.type = 'search';
    box.className = 'select-filter';
    box.id = select.id + '-filter';
    box.placeholder = select.dataset.filter;
    box.setAttribute('aria-label', select.dataset.filter);
    select.parentNode.insertBefore(box, select);
    box.addEventListener('input', function () {
      var q = box.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.options, function (o) {
        o.hidden = q !== '' && o.value !== '' && !o.selected && o.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  if (document.querySelector('[data-visible-field]')) {
    document.addEventListener('change', refresh);
    refresh();
  }
})();
