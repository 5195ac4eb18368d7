"""Give a BPMN file a clean diagram (BPMN DI) so bpmn-js draws it: pools stacked, lanes as bands, nodes
in columns by their distance from the start, boundary events on their task's lower edge, orthogonal flows.

    python workflows/layout.py workflows/bpmn/major_decision_review.bpmn [...]

Rewrites the files in place, replacing any existing diagram. Meant for authoring a model; once a designer
has arranged a diagram in the modeler, keep their layout instead."""
from __future__ import annotations

import sys
from collections import defaultdict

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN}

SIZES = {"task": (110, 80), "event": (36, 36), "gateway": (50, 50)}
COL_W, ROW_H, LANE_PAD, POOL_HEAD, LANE_HEAD = 170, 120, 30, 30, 30
FLOW_TAGS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
             "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "userTask", "task",
             "scriptTask", "serviceTask", "businessRuleTask", "manualTask", "sendTask", "receiveTask",
             "callActivity", "subProcess"}


def local(el) -> str:
    return etree.QName(el).localname


def kind(el) -> str:
    name = local(el)
    if name.endswith("Event"):
        return "event"
    if name.endswith("Gateway"):
        return "gateway"
    return "task"


def layout_process(process, top: float, left: float = 160) -> tuple[list, list, float, float]:
    nodes = {n.get("id"): n for n in process if isinstance(n.tag, str) and local(n) in FLOW_TAGS}
    flows = [f for f in process if isinstance(f.tag, str) and local(f) == "sequenceFlow"]
    out = defaultdict(list)
    for f in flows:
        if f.get("sourceRef") in nodes and f.get("targetRef") in nodes:   # a flow to nowhere is not drawn
            out[f.get("sourceRef")].append(f.get("targetRef"))
    host_of = {n.get("id"): n.get("attachedToRef") for n in nodes.values() if local(n) == "boundaryEvent"}
    # successors of a task include its boundary events' targets (drawn after the task)
    for b, host in host_of.items():
        out[host].extend(out[b])

    # ranks: longest path over forward edges (DFS back edges ignored)
    starts = [i for i, n in nodes.items() if local(n) == "startEvent"] or list(nodes)[:1]
    order, state, back = [], {}, set()

    def dfs(i):
        state[i] = 1
        for j in out.get(i, []):
            if j in host_of:
                continue
            if state.get(j) == 1:
                back.add((i, j))
            elif j not in state:
                dfs(j)
        state[i] = 2
        order.append(i)

    for s in starts:
        if s not in state:
            dfs(s)
    for i in nodes:
        if i not in state and i not in host_of:
            dfs(i)
    rank = {i: 0 for i in nodes}
    for i in reversed(order):
        for j in out.get(i, []):
            if (i, j) not in back and j not in host_of:
                rank[j] = max(rank[j], rank[i] + 1)

    lanes = process.xpath("./bpmn:laneSet/bpmn:lane", namespaces=NS)
    lane_of = {}
    for lane in lanes:
        for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=NS):
            lane_of[ref.text] = lane.get("id")
    lane_ids = [l.get("id") for l in lanes] or [None]
    rows_used = defaultdict(int)            # (lane, rank) -> rows taken
    slot = {}
    for i in sorted((i for i in nodes if i not in host_of), key=lambda i: (rank[i], list(nodes).index(i))):
        key = (lane_of.get(i, lane_ids[0]), rank[i])
        slot[i] = rows_used[key]
        rows_used[key] += 1
    lane_rows = {l: max([rows_used[(l, r)] for r in set(rank.values())] + [1]) for l in lane_ids}

    shapes, bounds = [], {}
    y = top
    lane_bounds = {}
    for l in lane_ids:
        h = lane_rows[l] * ROW_H + 2 * LANE_PAD
        lane_bounds[l] = (y, h)
        y += h
    width = (max(rank.values(), default=0) + 1) * COL_W + 120
    for i, n in nodes.items():
        if i in host_of:
            continue
        w, h = SIZES[kind(n)]
        ly, _ = lane_bounds[lane_of.get(i, lane_ids[0])]
        cx = left + LANE_HEAD + 60 + rank[i] * COL_W
        cy = ly + LANE_PAD + slot[i] * ROW_H + ROW_H / 2
        bounds[i] = (cx - w / 2, cy - h / 2, w, h)
    attached = defaultdict(int)
    for b, host in host_of.items():
        hx, hy, hw, hh = bounds[host]
        k = attached[host]
        attached[host] += 1
        bounds[b] = (hx + hw - 30 - k * 44, hy + hh - 18, 36, 36)
    for i, (x, yy, w, h) in bounds.items():
        shapes.append((i, x, yy, w, h, local(nodes[i]) in ("exclusiveGateway",)))
    edges = []
    for f in flows:
        s, t = f.get("sourceRef"), f.get("targetRef")
        if s not in bounds or t not in bounds:
            continue
        sx, sy, sw, sh = bounds[s]
        tx, ty, tw, th = bounds[t]
        if s in host_of:                     # from a boundary event: down, then across
            start = (sx + sw / 2, sy + sh)
            end = (tx, ty + th / 2) if tx > sx else (tx + tw / 2, ty + th)
            pts = [start, (start[0], end[1]), end] if tx > sx else [start, (start[0], end[1] + 30),
                                                                     (end[0], end[1] + 30), end]
        elif (s, t) in back or tx <= sx:     # a loop back: below both shapes
            low = max(sy + sh, ty + th) + 25
            pts = [(sx + sw / 2, sy + sh), (sx + sw / 2, low), (tx + tw / 2, low), (tx + tw / 2, ty + th)]
        else:
            a, b = (sx + sw, sy + sh / 2), (tx, ty + th / 2)
            if abs(a[1] - b[1]) < 1:
                pts = [a, b]
            else:
                mid = a[0] + 25
                pts = [a, (mid, a[1]), (mid, b[1]), b]
        edges.append((f.get("id"), pts))
    height = y - top
    return shapes, edges, (lane_bounds, width), height


def layout(path: str) -> None:
    tree = etree.parse(path, etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True))
    root = tree.getroot()
    for old in root.xpath("./bpmndi:BPMNDiagram", namespaces={"bpmndi": BPMNDI}):
        root.remove(old)
    E = lambda ns, tag, **a: etree.Element(f"{{{ns}}}{tag}", {k: str(v) for k, v in a.items()})  # noqa: E731
    diagram = E(BPMNDI, "BPMNDiagram", id="BPMNDiagram_1")
    collab = root.find(f"{{{BPMN}}}collaboration")
    plane = E(BPMNDI, "BPMNPlane", id="BPMNPlane_1",
              bpmnElement=collab.get("id") if collab is not None else root.find(f"{{{BPMN}}}process").get("id"))
    diagram.append(plane)
    participants = {p.get("processRef"): p for p in (collab.findall(f"{{{BPMN}}}participant")
                                                      if collab is not None else [])}
    top, left = 80, 160

    def shape(target, el_id, x, y, w, h, horizontal=False, marker=False):
        s = E(BPMNDI, "BPMNShape", id=f"{el_id}_di", bpmnElement=el_id)
        if horizontal:
            s.set("isHorizontal", "true")
        if marker:
            s.set("isMarkerVisible", "true")
        s.append(E(DC, "Bounds", x=round(x), y=round(y), width=round(w), height=round(h)))
        target.append(s)

    def edge(target, el_id, points):
        e = E(BPMNDI, "BPMNEdge", id=f"{el_id}_di", bpmnElement=el_id)
        for px, py in points:
            e.append(E(DI, "waypoint", x=round(px), y=round(py)))
        target.append(e)

    def draw(target, container, top, participant=None):
        """Lay out one process or sub-process on ``target``; returns the height used."""
        shapes, edges, (lane_bounds, width), height = layout_process(container, top, left)
        if participant is not None:
            shape(target, participant.get("id"), left, top, width + LANE_HEAD, height, horizontal=True)
        for lane_id, (ly, lh) in lane_bounds.items():
            if lane_id is not None:
                shape(target, lane_id, left + LANE_HEAD, ly, width, lh, horizontal=True)
        for i, x, y, w, h, marker in shapes:
            shape(target, i, x, y, w, h, marker=marker)
        for fid, pts in edges:
            edge(target, fid, pts)
        return height

    for process in root.findall(f"{{{BPMN}}}process"):
        top += draw(plane, process, top, participants.get(process.get("id"))) + 60
    if collab is not None:
        for mf in collab.findall(f"{{{BPMN}}}messageFlow"):
            src, dst = plane.find(f"*[@bpmnElement='{mf.get('sourceRef')}']/{{{DC}}}Bounds"), \
                plane.find(f"*[@bpmnElement='{mf.get('targetRef')}']/{{{DC}}}Bounds")
            if src is None or dst is None:
                continue
            box = lambda b: (float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height")))  # noqa: E731
            (sx, sy, sw, sh), (dx, dy, dw, dh) = box(src), box(dst)
            if dy > sy:          # downwards: from the bottom of the source to the top of the target
                a, b = (sx + sw / 2, sy + sh), (dx + dw / 2, dy)
            else:
                a, b = (sx + sw / 2, sy), (dx + dw / 2, dy + dh)
            mid = (a[1] + b[1]) / 2
            edge(plane, mf.get("id"), (a, (a[0], mid), (b[0], mid), b))
    root.append(diagram)
    # every sub-process with content gets its own diagram, which bpmn-js opens by drilling down
    for n, sub in enumerate(root.xpath(".//bpmn:subProcess[bpmn:*]", namespaces=NS), start=2):
        sub_diagram = E(BPMNDI, "BPMNDiagram", id=f"BPMNDiagram_{n}")
        sub_plane = E(BPMNDI, "BPMNPlane", id=f"BPMNPlane_{n}", bpmnElement=sub.get("id"))
        sub_diagram.append(sub_plane)
        draw(sub_plane, sub, 80)
        root.append(sub_diagram)
    etree.cleanup_namespaces(root, top_nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI})
    tree.write(path, xml_declaration=True, encoding="UTF-8", pretty_print=True)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        layout(p)
        print("laid out", p)
