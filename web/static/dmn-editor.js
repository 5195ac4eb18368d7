/* The decision-table editor (dmn-js): validate and deploy like the process designer; settings and texts
   from the #dmn-config JSON block. */
(function () {
  var config = JSON.parse(document.getElementById('dmn-config').textContent), T = config.text;
  var EMPTY = '<?xml version="1.0" encoding="UTF-8"?><definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" ' +
    'id="Definitions_new" name="决策" namespace="http://camunda.org/schema/1.0/dmn"><decision id="new_decision" name="新决策">' +
    '<decisionTable id="table" hitPolicy="UNIQUE"><input id="in1" label="输入"><inputExpression id="ie1" typeRef="string"><text>value</text>' +
    '</inputExpression></input><output id="out1" label="输出" name="result" typeRef="string" /></decisionTable></decision></definitions>';
  function translate(template, replacements) {           // Chinese labels (dmn-zh.js) when the page is Chinese
    var text = config.locale === 'zh' && window.DMN_ZH && window.DMN_ZH[template] || template;
    return text.replace(/{([^}]+)}/g, function (_, key) { return (replacements || {})[key] || '{' + key + '}'; });
  }
  var zh = {translate: ['value', translate]};
  var modeler = new DmnJS({container: '#canvas', common: {keyboard: {bindTo: window}, additionalModules: [zh]},
    drd: {additionalModules: [zh]}, decisionTable: {additionalModules: [zh]}, literalExpression: {additionalModules: [zh]}});
  window.dmnModeler = modeler;
  var status = document.getElementById('status'), problems = document.getElementById('problems');
  function post(url, body, json) {
    return fetch(url, {method: 'POST', credentials: 'same-origin', body: body,
      headers: Object.assign({'X-CSRF-Token': config.csrf}, json ? {'Content-Type': 'application/json'} : {})})
      .then(function (r) { return r.json().then(function (d) { return {status: r.status, data: d}; }); });
  }
  function list(errors) {
    problems.innerHTML = '';
    (errors || []).forEach(function (e) { var li = document.createElement('li'); li.textContent = (e.element_id ? '[' + e.element_id + '] ' : '') + e.message; problems.appendChild(li); });
  }
  document.getElementById('validate').addEventListener('click', function () {
    modeler.saveXML({format: true}).then(function (out) {
      return post(config.validateUrl, JSON.stringify({filename: config.filename, xml: out.xml}), true);
    }).then(function (r) { list(r.data.errors); status.textContent = r.data.ok ? T.valid : T.invalid; document.body.dataset.validated = r.data.ok ? 'ok' : 'errors'; });
  });
  document.getElementById('deploy').addEventListener('click', function () {
    var comment = document.getElementById('comment').value.trim();
    if (!comment) { status.textContent = T.needComment; return; }
    modeler.saveXML({format: true}).then(function (out) {
      var data = new FormData();
      data.append('files', new Blob([out.xml], {type: 'application/xml'}), config.filename);
      data.append('comment', comment);
      return post(config.deployUrl, data, false);
    }).then(function (r) {
      var what = function (rows) { return (rows || []).map(function (c) { return c.key + ' v' + c.version; }).join(', '); };
      if (r.status === 201) status.textContent = T.deployed.replace('{what}', what(r.data.created));
      else if (r.status === 200) status.textContent = T.unchanged.replace('{what}', what(r.data.unchanged));
      else { list(r.data.errors); status.textContent = T.failed + ' ' + (r.data.message || ''); }
      document.body.dataset.deployed = String(r.status);
    });
  });
  modeler.importXML(config.xml || EMPTY).then(function () { document.body.dataset.modelerReady = 'true'; })
    .catch(function (err) { status.textContent = err.message; document.body.dataset.modelerReady = 'error'; });
})();
