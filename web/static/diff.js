/* Two versions of a process side by side, added/removed/changed elements marked; data from #diff-config. */
(function () {
  var config = JSON.parse(document.getElementById('diff-config').textContent);
  function show(box, url, marks) {
    var viewer = new BpmnJS({container: box});
    return fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); }).then(function () {
        var canvas = viewer.get('canvas'), reg = viewer.get('elementRegistry');
        canvas.zoom('fit-viewport');
        Object.keys(marks).forEach(function (cls) { marks[cls].forEach(function (id) { if (reg.get(id)) canvas.addMarker(id, cls); }); });
        box.dataset.ready = 'true';
      });
  }
  show(document.getElementById('diagram-a'), config.sourceA, {removed: config.removed, changed: config.changed});
  show(document.getElementById('diagram-b'), config.sourceB, {added: config.added, changed: config.changed});
})();
