/* Unit pickers as an organisation tree with a search box. Every <select data-unit-tree> keeps working on
   its own (it is what the form submits, and all there is without JavaScript); with JavaScript a tree drawn
   from its options (data-id, data-parent; disabled options are headings: units above the ones that may be
   chosen) is shown under it: type to filter (a match shows the units above it), click a unit to choose it.
   No inline script: the Content-Security-Policy allows scripts from this site only. */
(function () {
  function build(select) {
    var options = Array.prototype.filter.call(select.options, function (o) { return o.value; });
    var byId = {}, kids = {};
    options.forEach(function (o) { byId[o.dataset.id] = o; });
    options.forEach(function (o) {
      var parent = byId[o.dataset.parent] ? o.dataset.parent : '';
      (kids[parent] = kids[parent] || []).push(o);
    });
    var box = document.createElement('div');
    box.className = 'unit-tree';
    var search = document.createElement('input');
    search.type = 'search';
    search.className = 'unit-tree-search';
    search.placeholder = select.dataset.searchLabel || '搜索单位';
    search.setAttribute('aria-label', search.placeholder);
    var list = document.createElement('ul');
    list.className = 'unit-tree-list';
    list.setAttribute('role', 'tree');
    var items = {};
    function branch(parentId, ul, depth) {
      (kids[parentId] || []).forEach(function (o) {
        var li = document.createElement('li');
        li.setAttribute('role', 'treeitem');
        var button = document.createElement(o.disabled ? 'span' : 'button');
        if (!o.disabled) button.type = 'button';
        button.className = o.disabled ? 'unit-tree-heading' : 'link unit-tree-item';
        button.textContent = o.textContent;
        button.dataset.value = o.value;
        button.style.paddingLeft = (depth * 1.2) + 'em';
        if (!o.disabled) button.addEventListener('click', function () { choose(o.value); });
        li.appendChild(button);
        ul.appendChild(li);
        items[o.dataset.id] = {li: li, option: o};
        if (kids[o.dataset.id]) {
          var sub = document.createElement('ul');
          sub.setAttribute('role', 'group');
          li.appendChild(sub);
          branch(o.dataset.id, sub, depth + 1);
        }
      });
    }
    function choose(value) {
      select.value = value;
      select.dispatchEvent(new Event('change', {bubbles: true}));
    }
    function show() {
      list.querySelectorAll('.unit-tree-item').forEach(function (b) {
        b.classList.toggle('chosen', b.dataset.value === select.value);
      });
    }
    function filter() {
      var q = search.value.trim();
      Object.keys(items).forEach(function (id) { items[id].li.hidden = !!q; });
      if (!q) return;
      Object.keys(items).forEach(function (id) {
        if (items[id].option.textContent.indexOf(q) < 0) return;
        var cur = id;
        while (cur && items[cur]) { items[cur].li.hidden = false; cur = items[cur].option.dataset.parent; }
      });
    }
    branch('', list, 0);
    search.addEventListener('input', filter);
    select.addEventListener('change', show);
    box.appendChild(search);
    box.appendChild(list);
    select.parentNode.insertBefore(box, select.nextSibling);
    show();
  }
  document.querySelectorAll('select[data-unit-tree]').forEach(build);
})();
