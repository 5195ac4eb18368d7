/* The working-day calendar page (/admin/calendar/<year>): the year grid and the list of dates are two views of
   the same days. Clicking a day changes it in the list; editing the list redraws the grid. The list is what
   is submitted, and the server reads it again (engine.calendar.parse_notice), so without this script the
   page still works by editing the list. */
(function () {
  var grid = document.getElementById('year-grid');
  var text = document.getElementById('days');
  if (!grid || !text) return;
  var year = parseInt(grid.dataset.year, 10);
  var MARKS = {'休': false, '放假': false, '休息': false, '假': false, '班': true, '上班': true, '补班': true, '调休上班': true};
  var LINE = /^\s*(\d{4})\s*[-/年]\s*(\d{1,2})\s*[-/月]\s*(\d{1,2})\s*日?(?:\s*(?:至|到|~|～)\s*(?:(\d{4})\s*[-/年]\s*)?(?:(\d{1,2})\s*[-/月]\s*)?(\d{1,2})\s*日?)?(.*)$/;

  function iso(d) {
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  }

  // the list as {days: {iso: {work, name}}, other: [lines that are not days of this year]}
  function parse() {
    var days = {}, other = [];
    text.value.split('\n').forEach(function (raw) {
      var line = raw.trim(), m = LINE.exec(line);
      if (!line) return;
      if (!m) { other.push(raw); return; }
      var first = new Date(+m[1], +m[2] - 1, +m[3]);
      var last = m[6] ? new Date(+(m[4] || m[1]), +(m[5] || m[2]) - 1, +m[6]) : first;
      var words = m[7].replace(/[，,]/g, ' ').trim().split(/\s+/).filter(Boolean), work = false;
      if (words.length && MARKS.hasOwnProperty(words[words.length - 1])) work = MARKS[words.pop()];
      if (first.getFullYear() !== year || last < first || (last - first) / 864e5 > 31) { other.push(raw); return; }
      for (var d = new Date(first); d <= last; d.setDate(d.getDate() + 1)) {
        days[iso(d)] = {work: work, name: words.join(' ')};
      }
    });
    return {days: days, other: other};
  }

  // consecutive days with the same kind and name as one range, like engine.calendar.format_notice
  function format(state) {
    var keys = Object.keys(state.days).sort(), out = [], i = 0;
    while (i < keys.length) {
      var j = i, a = state.days[keys[i]];
      while (j + 1 < keys.length) {
        var next = new Date(keys[j]); next.setDate(next.getDate() + 1);
        var b = state.days[keys[j + 1]];
        if (keys[j + 1] !== iso(next) || b.work !== a.work || b.name !== a.name) break;
        j++;
      }
      out.push([keys[i] + (j > i ? '至' + keys[j] : ''), a.name, a.work ? '班' : '休'].filter(Boolean).join(' '));
      i = j + 1;
    }
    return out.concat(state.other).join('\n');
  }

  function draw() {
    var state = parse();
    grid.querySelectorAll('button.day').forEach(function (button) {
      var entry = state.days[button.dataset.day], weekend = button.dataset.weekend === '1', kind;
      if (entry) kind = entry.work ? (weekend ? 'makeup' : 'workday') : 'holiday';
      else kind = weekend ? 'weekend' : 'workday';
      button.className = 'day ' + kind + (button.dataset.assumed && kind === 'holiday' ? ' assumed' : '');
      button.title = button.dataset.day + (entry && entry.name ? ' ' + entry.name : '');
    });
  }

  grid.addEventListener('click', function (e) {
    var button = e.target.closest('button.day');
    if (!button) return;
    var state = parse(), day = button.dataset.day, weekend = button.dataset.weekend === '1';
    var entry = state.days[day];
    var working = entry ? entry.work : !weekend;
    if (!working === !weekend) delete state.days[day];                 // back to an ordinary day
    else state.days[day] = {work: !working, name: entry ? entry.name : ''};
    text.value = format(state);
    draw();
  });
  text.addEventListener('input', draw);
  draw();
})();
