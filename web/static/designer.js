/* The process modeler: bpmn-js with Chinese labels, a properties panel for our extensions
   (role, unit expression, form, time limits, timers, conditions, scripts), validation against the
   server's deployment checks with the faulty elements marked, and deployment with a comment. */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('designer-config').textContent);
  var T = config.text;
  var SPIFF = {
    name: 'SpiffWorkflow', uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core', prefix: 'spiffworkflow',
    xml: {tagAlias: 'lowerCase'},
    types: [
      {name: 'Properties', superClass: ['Element'], properties: [{name: 'properties', type: 'Property', isMany: true}]},
      {name: 'Property', superClass: ['Element'], properties: [
        {name: 'name', type: 'String', isAttr: true}, {name: 'value', type: 'String', isAttr: true}]},
      {name: 'CalledDecisionId', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'MessagePayload', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'MessageVariable', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'PreScript', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'PostScript', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'InstructionsForEndUser', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'ProcessVariableCorrelation', superClass: ['Element'], properties: [
        {name: 'propertyId', type: 'PropertyId'}, {name: 'expression', type: 'Expression'}]},
      {name: 'PropertyId', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]},
      {name: 'Expression', superClass: ['Element'], properties: [{name: 'value', type: 'String', isBody: true}]}
    ]
  };
  function translate(template, replacements) {
    var text = config.locale === 'zh' && window.DESIGNER_ZH[template] || template;
    return text.replace(/{([^}]+)}/g, function (_, key) { return (replacements || {})[key] || '{' + key + '}'; });
  }
  var modeler = new BpmnJS({
    container: '#canvas', keyboard: {bindTo: document},
    moddleExtensions: {spiffworkflow: SPIFF},
    additionalModules: [{translate: ['value', translate]}]
  });
  window.modeler = modeler;                      // for tests and the browser console
  var moddle = modeler.get('moddle'), modeling = modeler.get('modeling'), canvas = modeler.get('canvas');
  var registry = modeler.get('elementRegistry');
  var statusBox = document.getElementById('status'), problemsBox = document.getElementById('problems');
  var panel = document.getElementById('panel');

  var EMPTY = '<?xml version="1.0" encoding="UTF-8"?>' +
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" ' +
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" ' +
    'id="Definitions_new" targetNamespace="http://bpmn.io/schema/bpmn">' +
    '<bpmn:process id="new_process" name="新流程" isExecutable="true"><bpmn:startEvent id="start" name="开始"/></bpmn:process>' +
    '<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="new_process">' +
    '<bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36"/></bpmndi:BPMNShape>' +
    '</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>';

  function say(text, kind) { statusBox.textContent = text; statusBox.className = kind || ''; }

  // what the modeler could not read in the file it opened (e.g. a flow to a missing element): such
  // parts are dropped from the diagram, so they are reported with the server's problems
  var importProblems = [];
  modeler.on('import.done', function (e) {
    var seen = {};
    importProblems = [];
    (e.warnings || []).forEach(function (w) {
      var id = w.element && w.element.id, ref = /<([^>]+)>/.exec(w.message || '');
      if (seen[id]) return;                       // one problem per element
      seen[id] = true;
      importProblems.push({element_id: id, message: T.unresolved.replace('{ref}', ref ? ref[1] : (w.message || ''))});
    });
  });

  // -- extension properties ------------------------------------------------------------------
  function propsOf(bo) {
    var ext = bo.extensionElements, out = {};
    ((ext && ext.values) || []).forEach(function (v) {
      if (v.$type === 'spiffworkflow:Properties') (v.properties || []).forEach(function (p) { out[p.name] = p.value; });
    });
    return out;
  }
  function setProp(element, name, value) {
    var bo = element.businessObject;
    var ext = bo.extensionElements || moddle.create('bpmn:ExtensionElements', {values: []});
    var holder = (ext.values || []).filter(function (v) { return v.$type === 'spiffworkflow:Properties'; })[0];
    if (!holder) { holder = moddle.create('spiffworkflow:Properties', {properties: []}); holder.$parent = ext; ext.values.push(holder); }
    var prop = (holder.properties || []).filter(function (p) { return p.name === name; })[0];
    if (value === '' || value === null) {
      if (prop) holder.properties.splice(holder.properties.indexOf(prop), 1);
    } else if (prop) { prop.value = value; }
    else { prop = moddle.create('spiffworkflow:Property', {name: name, value: value}); prop.$parent = holder; holder.properties.push(prop); }
    modeling.updateProperties(element, {extensionElements: ext});
  }
  function timerOf(bo) {
    var defs = bo.eventDefinitions || [];
    return defs.filter(function (d) { return d.$type === 'bpmn:TimerEventDefinition'; })[0];
  }
  function setTimer(element, expression) {
    var def = timerOf(element.businessObject);
    var expr = moddle.create('bpmn:FormalExpression', {body: expression});
    def.timeDuration = undefined; def.timeCycle = undefined;
    modeling.updateModdleProperties(element, def, {timeDate: expr});
  }

  // -- the panel -------------------------------------------------------------------------------
  function field(label, input, help) {
    var box = document.createElement('label');
    box.textContent = label;
    box.appendChild(input);
    if (help) { var h = document.createElement('div'); h.className = 'help'; h.textContent = help; box.appendChild(h); }
    panel.appendChild(box);
    return input;
  }
  function textInput(id, value, onchange, list) {
    var input = document.createElement(id === 'script' ? 'textarea' : 'input');
    input.id = 'prop-' + id; input.value = value || '';
    if (list) input.setAttribute('list', list);
    input.addEventListener('change', function () { onchange(input.value.trim()); });
    return input;
  }
  function select(id, value, options, onchange) {
    var input = document.createElement('select');
    input.id = 'prop-' + id;
    options.forEach(function (o) {
      var opt = document.createElement('option'); opt.value = o[0]; opt.textContent = o[1];
      if (o[0] === (value || '')) opt.selected = true; input.appendChild(opt);
    });
    input.addEventListener('change', function () { onchange(input.value); });
    return input;
  }
  var helperList = document.createElement('datalist');
  helperList.id = 'helpers';
  config.meta.helpers.forEach(function (h) { var o = document.createElement('option'); o.value = h; helperList.appendChild(o); });
  document.body.appendChild(helperList);

  function render(element) {
    panel.innerHTML = '';
    if (!element) { panel.innerHTML = '<p class="help">' + T.noProperties + '</p>'; return; }
    var bo = element.businessObject, type = bo.$type, props = propsOf(bo);
    var title = document.createElement('h3'); title.textContent = (bo.name || bo.id) + ' · ' + translate(type.replace('bpmn:', '').replace(/([A-Z])/g, ' $1').trim().replace(/^./, function (c) { return c.toUpperCase(); }).replace(/ ([A-Z])/g, function (m, c) { return ' ' + c.toLowerCase(); }));
    panel.appendChild(title);
    if (type === 'bpmn:Lane') {
      field(T.role, select('role', bo.name, [['', '—']].concat(config.meta.roles.map(function (r) { return [r.name, r.name + '（' + r.code + '）']; })),
        function (v) { modeling.updateProperties(element, {name: v}); }));
      return;
    }
    field(T.name, textInput('name', bo.name, function (v) { modeling.updateProperties(element, {name: v}); }));
    if (type === 'bpmn:UserTask') {
      field(T.unit, textInput('unit', props.unit, function (v) { setProp(element, 'unit', v); }, 'helpers'), T.helpers + ': ' + config.meta.helpers.slice(0, 8).join(', ') + '…');
      field(T.form, select('formKey', props.formKey, [['', '—']].concat(config.meta.forms.map(function (f) { return [f.key, f.title + '（' + f.key + '）']; })),
        function (v) { setProp(element, 'formKey', v); }));
      field(T.sla, textInput('sla', props.sla, function (v) { setProp(element, 'sla', v); }));
      field(T.reminder, textInput('reminder', props.reminder, function (v) { setProp(element, 'reminder', v); }));
      field(T.dueDate, textInput('dueDate', props.dueDate, function (v) { setProp(element, 'dueDate', v); }, 'helpers'));
      field(T.remindDate, textInput('remindDate', props.remindDate, function (v) { setProp(element, 'remindDate', v); }, 'helpers'));
      field(T.assignee, textInput('assignee', props.assignee, function (v) { setProp(element, 'assignee', v); }, 'helpers'));
    }
    var messageCatch = type === 'bpmn:IntermediateCatchEvent' && (bo.eventDefinitions || []).some(function (d) {
      return d.$type === 'bpmn:MessageEventDefinition'; });
    if (type === 'bpmn:ReceiveTask' || type === 'bpmn:ManualTask' || messageCatch) {   // other steps that wait
      field(T.sla, textInput('sla', props.sla, function (v) { setProp(element, 'sla', v); }));
      field(T.dueDate, textInput('dueDate', props.dueDate, function (v) { setProp(element, 'dueDate', v); }, 'helpers'));
    }
    if (type === 'bpmn:StartEvent' && !timerOf(bo)) {
      field(T.form, select('formKey', props.formKey, [['', '—']].concat(config.meta.forms.map(function (f) { return [f.key, f.title]; })),
        function (v) { setProp(element, 'formKey', v); }));
      field(T.starterRoles, textInput('starterRoles', props.starterRoles, function (v) { setProp(element, 'starterRoles', v); }));
      field(T.starterUnits, textInput('starterUnits', props.starterUnits, function (v) { setProp(element, 'starterUnits', v); }, 'helpers'),
        'unit_kind(initiator_unit) == "justice_bureau" and unit_tier(initiator_unit) == "city"');
      field(T.startCondition, textInput('startCondition', props.startCondition, function (v) { setProp(element, 'startCondition', v); }, 'helpers'));
      field(T.startRefusal, textInput('startRefusal', props.startRefusal, function (v) { setProp(element, 'startRefusal', v); }));
      field(T.startRefusalField, textInput('startRefusalField', props.startRefusalField, function (v) { setProp(element, 'startRefusalField', v); }));
    }
    var timer = timerOf(bo);
    if (timer) {
      var current = (timer.timeDate || timer.timeDuration || timer.timeCycle || {}).body;
      field(T.timer, textInput('timer', current, function (v) { setTimer(element, v); }, 'helpers'), 'working_days(7) · deadline("15 days") · end_of_day(…)');
      if (type === 'bpmn:BoundaryEvent') {
        field(T.slaEvent, select('slaEvent', props.slaEvent, [['', T.none], ['escalation', T.escalation]],
          function (v) { setProp(element, 'slaEvent', v); }));
      }
    }
    if (type === 'bpmn:SequenceFlow' && bo.sourceRef && /Gateway$/.test(bo.sourceRef.$type)) {
      field(T.condition, textInput('condition', bo.conditionExpression && bo.conditionExpression.body, function (v) {
        modeling.updateProperties(element, {conditionExpression: v ? moddle.create('bpmn:FormalExpression', {body: v}) : undefined});
      }));
    }
    if (type === 'bpmn:ScriptTask') {
      field(T.script, textInput('script', bo.script, function (v) { modeling.updateProperties(element, {script: v, scriptFormat: 'python'}); }));
    }
  }
  // clicking the selected element again (or the empty canvas) deselects it in bpmn-js: the panel keeps showing
  // the element last picked while it is still in the diagram, so a second click never loses what was typed
  var shown = null;
  modeler.on('selection.changed', function (e) {
    var element = e.newSelection[0];
    if (!element && shown && registry.get(shown.id)) return;
    if (element && element === shown && panel.querySelector('h3')) return;
    shown = element || null;
    render(element);
  });
  modeler.on('element.changed', function (e) {
    var selected = modeler.get('selection').get()[0];
    if (selected && e.element === selected && !panel.contains(document.activeElement)) render(selected);
  });

  // -- validate, deploy, download ---------------------------------------------------------------
  function filename(xml) {
    if (config.filename) return config.filename;
    var m = /<bpmn:process id="([^"]+)"/.exec(xml);
    return (m ? m[1] : 'diagram') + '.bpmn';
  }
  function clearMarks() {
    registry.getAll().forEach(function (el) { canvas.removeMarker(el.id, 'invalid'); canvas.removeMarker(el.id, 'warning'); });
    problemsBox.innerHTML = '';
  }
  function showProblems(errors, warnings) {
    clearMarks();
    function list(entries, marker) {
      entries.forEach(function (e) {
        var li = document.createElement('li');
        li.className = marker;
        li.textContent = (marker === 'warning' ? T.warning + ' ' : '') + (e.element_id ? '[' + e.element_id + '] ' : '') + e.message;
        li.dataset.element = e.element_id || '';
        if (e.element_id && registry.get(e.element_id)) {
          canvas.addMarker(e.element_id, marker);
          li.addEventListener('click', function () { modeler.get('selection').select(registry.get(e.element_id)); });
        }
        problemsBox.appendChild(li);
      });
    }
    list(errors, 'invalid');
    list(warnings || [], 'warning');
  }
  function post(url, body, json) {
    return fetch(url, {method: 'POST', credentials: 'same-origin', body: body,
      headers: Object.assign({'X-CSRF-Token': config.csrf}, json ? {'Content-Type': 'application/json'} : {})})
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); });
  }
  document.getElementById('validate').addEventListener('click', function () {
    modeler.saveXML({format: true}).then(function (out) {
      return post(config.validateUrl, JSON.stringify({filename: filename(out.xml), xml: out.xml}), true);
    }).then(function (r) {
      var known = {};
      importProblems.forEach(function (e) { known[e.element_id] = true; });
      var errors = importProblems.concat((r.data.errors || []).filter(function (e) { return !known[e.element_id]; }));
      var ok = r.data.ok && !importProblems.length;
      var warnings = r.data.warnings || [];
      showProblems(errors, warnings);
      say(ok ? (warnings.length ? T.validWithWarnings : T.valid) : T.invalid, ok ? 'ok' : 'error');
      document.body.dataset.validated = ok ? 'ok' : 'errors';
    });
  });
  // what was deployed, in words (the procedure's name and version), and the header follows the new version
  var names = {};                                 // process id → name, from the diagram just deployed
  function named(c) { return (names[c.key] || c.key) + ' ' + T.versionLabel.replace('{v}', c.version); }
  function showVersion(rows) {
    var mine = (rows || []).filter(function (c) { return !config.key || c.key === config.key; })[0];
    if (!mine) return;
    config.key = mine.key;
    document.getElementById('design-version').textContent = ' · ' + T.versionLabel.replace('{v}', mine.version);
    if (names[mine.key]) document.getElementById('design-title').firstChild.textContent = names[mine.key];
  }
  document.getElementById('deploy').addEventListener('click', function () {
    var comment = document.getElementById('comment').value.trim();
    if (!comment) { say(T.needComment, 'error'); return; }
    modeler.saveXML({format: true}).then(function (out) {
      var re = /<bpmn:process\b[^>]*>/g, m;
      while ((m = re.exec(out.xml))) {
        var id = /\bid="([^"]+)"/.exec(m[0]), name = /\bname="([^"]*)"/.exec(m[0]);
        if (id && name) names[id[1]] = name[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"');
      }
      var data = new FormData();
      data.append('files', new Blob([out.xml], {type: 'application/xml'}), filename(out.xml));
      data.append('comment', comment);
      return post(config.deployUrl, data, false);
    }).then(function (r) {
      var warnings = r.data.warnings || [];
      var note = warnings.length ? ' ' + T.deployedWithWarnings : '';
      if (r.status === 201) {
        showProblems([], warnings);
        say(T.deployed.replace('{what}', r.data.created.map(named).join('，')) + note, 'ok');
        showVersion(r.data.created);
        document.body.dataset.deployed = JSON.stringify(r.data.created);
      } else if (r.status === 200) {
        showProblems([], warnings);
        say(T.unchanged.replace('{what}', r.data.unchanged.map(named).join('，')) + note, 'ok');
        showVersion(r.data.unchanged);
        document.body.dataset.deployed = '[]';
      } else {
        showProblems(r.data.errors || []);
        say(T.failed + ' ' + (r.data.message || ''), 'error');
        document.body.dataset.deployed = 'error';
      }
    });
  });
  document.getElementById('download').addEventListener('click', function () {
    modeler.saveXML({format: true}).then(function (out) {
      var a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([out.xml], {type: 'application/xml'}));
      a.download = filename(out.xml); a.click();
    });
  });

  var load = config.xmlUrl ? fetch(config.xmlUrl, {credentials: 'same-origin'}).then(function (r) { return r.text(); })
                           : Promise.resolve(EMPTY);
  var MIN_ZOOM = 0.75;                            // below this the labels cannot be read
  load.then(function (xml) { return modeler.importXML(xml); }).then(function () {
    canvas.zoom('fit-viewport');
    if (canvas.zoom() < MIN_ZOOM) {               // a wide diagram: readable, from its start (scroll for the rest)
      var inner = canvas.viewbox().inner;
      canvas.zoom(MIN_ZOOM, {x: inner.x, y: inner.y + inner.height / 2});
    }
    document.body.dataset.modelerReady = 'true';
  }).catch(function (err) { say(err.message, 'error'); document.body.dataset.modelerReady = 'error'; });
})();
