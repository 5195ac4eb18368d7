/* The inbox's batch bar: a "select all" box (shown only with JavaScript; without it each task is ticked
   on its own). */
(function () {
  var all = document.getElementById('select-all');
  if (!all) return;
  all.hidden = false;
  var boxes = function () { return document.querySelectorAll('input.batch-select'); };
  all.addEventListener('change', function () {
    boxes().forEach(function (b) { b.checked = all.checked; });
  });
})();
