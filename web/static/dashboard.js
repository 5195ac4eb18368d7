/* The supervision dashboard's charts (chart.js); data from the #chart-data JSON block, titles from the
   canvases' data-title. */
(function () {
  if (!window.Chart) return;
  var data = JSON.parse(document.getElementById('chart-data').textContent);
  var colours = {open: '#1f4e79', due_soon: '#b26a00', overdue: '#c62828', escalated: '#6a1b9a'};
  function draw(id, part) {
    var canvas = document.getElementById(id);
    new Chart(canvas, {
      type: 'bar',
      data: {labels: part.labels, datasets: Object.keys(colours).map(function (s) {
        return {label: data.labels[s], data: part[s], backgroundColor: colours[s]};
      })},
      options: {responsive: true, maintainAspectRatio: false,
                plugins: {title: {display: true, text: canvas.dataset.title}},
                scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
    });
  }
  draw('chart-units', data.units);
  draw('chart-procedures', data.procedures);
})();
