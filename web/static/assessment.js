/* The assessment ranking's chart (chart.js): each unit's score stacked from its indicators' contributions;
   data from the #assessment-data JSON block. */
(function () {
  if (!window.Chart) return;
  var data = JSON.parse(document.getElementById('assessment-data').textContent);
  var colours = ['#1f4e79', '#2e7d32', '#b26a00', '#c62828', '#6a1b9a', '#00838f', '#5d4037', '#455a64'];
  var canvas = document.getElementById('chart-assessment');
  new Chart(canvas, {
    type: 'bar',
    data: {labels: data.labels, datasets: data.indicators.map(function (ind, i) {
      return {label: ind.name, data: ind.values, backgroundColor: colours[i % colours.length]};
    })},
    options: {responsive: true, maintainAspectRatio: false,
              plugins: {title: {display: true, text: canvas.dataset.title}},
              scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, max: 100}}}
  });
})();
