/* The case page's process diagram: done steps green, current steps orange (bpmn-js navigated viewer). */
(function () {
  var box = document.getElementById('diagram');
  if (!box || !window.BpmnJS) return;
  var viewer = new BpmnJS({container: box});
  fetch(box.dataset.src, {credentials: 'same-origin'}).then(function (r) { return r.text(); }).then(function (xml) {
    return viewer.importXML(xml);
  }).then(function () {
    var canvas = viewer.get('canvas'), registry = viewer.get('elementRegistry');
    canvas.zoom('fit-viewport');
    JSON.parse(box.dataset.done).forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, 'done'); });
    JSON.parse(box.dataset.current).forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, 'current'); });
    box.dataset.ready = 'true';
  }).catch(function (err) { box.textContent = err.message; box.dataset.ready = 'error'; });
})();
