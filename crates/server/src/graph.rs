//! A flow drawn as boxes and arrows: every state a box, Parallel branches and Map item
//! processors nested boxes inside their state's box, transitions (Next, Choice rules and
//! Default, Catch) arrows between boxes of one scope.
//!
//! The layout is layered, top to bottom: within a scope a state sits one layer below the
//! furthest state that leads to it (arrows that loop back are left out of the ranking), the
//! states of a layer side by side in the order they are first reached. A compound box is as big
//! as what it holds plus a margin, so that boxes never overlap and children stay inside their
//! parent; the console draws the boxes where this module puts them.

use serde_json::{Value, json};
use sluice_lang::ir::{Definition, Scope, State, StateKind, Transition};
use std::collections::HashMap;

/// Width of a plain state's box.
const STATE_W: f64 = 170.0;
/// Height of a plain state's box.
const STATE_H: f64 = 40.0;
/// Room between boxes side by side.
const GAP_X: f64 = 30.0;
/// Room between layers.
const GAP_Y: f64 = 36.0;
/// Margin inside a compound box.
const PAD: f64 = 14.0;
/// Room for a compound box's title above what it holds.
const HEADER: f64 = 26.0;

/// One box: a state, or a branch of a Parallel state.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Unique in the graph: the names from the top scope down, joined by `/`.
    pub id: String,
    /// The state's name (what history events carry), or `Branch N`.
    pub name: String,
    /// `Task`, `Map`, ..., or `Branch` for a Parallel branch.
    pub kind: &'static str,
    /// The enclosing box's id; `None` at the top.
    pub parent: Option<String>,
    /// Whether a Map's items run as child executions.
    pub distributed: bool,
    /// Left edge, from the drawing's origin.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// One arrow between two boxes of one scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// The box it leaves.
    pub from: String,
    /// The box it enters.
    pub to: String,
    /// `next`, `choice`, `default` or `catch`.
    pub kind: &'static str,
    /// Whether it goes back to an earlier layer (a loop).
    pub back: bool,
}

/// A laid out flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Every box, parents before their children.
    pub nodes: Vec<Node>,
    /// Every arrow.
    pub edges: Vec<Edge>,
    /// The drawing's width.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
}

impl Graph {
    /// Lays out a definition.
    pub fn of(definition: &Definition) -> Graph {
        let mut graph = Graph {
            nodes: Vec::new(),
            edges: Vec::new(),
            width: 0.0,
            height: 0.0,
        };
        let area = lay_scope(&definition.root, "", None, &mut graph);
        place(&mut graph, &area, 0.0, 0.0);
        graph.width = area.w;
        graph.height = area.h;
        graph
    }

    /// The graph as JSON: `{nodes: [{id, name, type, parent, distributed, x, y, w, h}],
    /// edges: [{from, to, kind, back}], width, height}`.
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id, "name": n.name, "type": n.kind, "parent": n.parent,
                    "distributed": n.distributed, "x": n.x, "y": n.y, "w": n.w, "h": n.h,
                })
            })
            .collect();
        let edges: Vec<Value> = self
            .edges
            .iter()
            .map(|e| json!({"from": e.from, "to": e.to, "kind": e.kind, "back": e.back}))
            .collect();
        json!({"nodes": nodes, "edges": edges, "width": self.width, "height": self.height})
    }
}

/// An area sized but not yet placed: the boxes in it and its size.
#[derive(Default)]
struct Area {
    boxes: Vec<Placed>,
    w: f64,
    h: f64,
}

/// A box within an area: its node, its offset from the area's top-left corner, and the area
/// inside it (empty for a plain state).
struct Placed {
    node: usize,
    dx: f64,
    dy: f64,
    inner: Area,
}

/// Moves the nodes of every box in `area` (whose top-left corner is at `x`, `y`) to where
/// they belong.
fn place(graph: &mut Graph, area: &Area, x: f64, y: f64) {
    for b in &area.boxes {
        let (bx, by) = (x + b.dx, y + b.dy);
        graph.nodes[b.node].x = bx;
        graph.nodes[b.node].y = by;
        place(graph, &b.inner, bx, by);
    }
}

/// Where each state of a scope leads: `(target, kind)`.
fn transitions(state: &State) -> Vec<(&str, &'static str)> {
    let mut out = Vec::new();
    if let Some(Transition::Next(next)) = &state.transition {
        out.push((next.as_str(), "next"));
    }
    if let StateKind::Choice { rules, default } = &state.kind {
        out.extend(rules.iter().map(|r| (r.next.as_str(), "choice")));
        if let Some(d) = default {
            out.push((d.as_str(), "default"));
        }
    }
    out.extend(state.catch.iter().map(|c| (c.next.as_str(), "catch")));
    out
}

/// The layer of each state of a scope (by index), and the arrows that loop back.
fn rank(scope: &Scope) -> (Vec<usize>, Vec<Vec<bool>>) {
    let n = scope.states.len();
    let index: HashMap<&str, usize> = scope
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let targets: Vec<Vec<Option<usize>>> = scope
        .states
        .iter()
        .map(|s| {
            transitions(s)
                .iter()
                .map(|(t, _)| index.get(t).copied())
                .collect()
        })
        .collect();
    // Depth-first from the start (then from every state not reached), marking arrows into a
    // state on the current path as loops; the rest form a DAG ranked by longest path.
    let mut back: Vec<Vec<bool>> = targets.iter().map(|t| vec![false; t.len()]).collect();
    let mut visited = vec![0u8; n]; // 0 new, 1 on the path, 2 done
    let mut order = Vec::with_capacity(n);
    let start = index.get(scope.start_at.as_str()).copied();
    for root in start.into_iter().chain(0..n) {
        if visited[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        visited[root] = 1;
        while let Some((node, edge)) = stack.pop() {
            if edge < targets[node].len() {
                stack.push((node, edge + 1));
                if let Some(t) = targets[node][edge] {
                    match visited[t] {
                        0 => {
                            visited[t] = 1;
                            stack.push((t, 0));
                        }
                        1 => back[node][edge] = true,
                        _ => {}
                    }
                }
            } else {
                visited[node] = 2;
                order.push(node);
            }
        }
    }
    let mut layer = vec![0usize; n];
    for &node in order.iter().rev() {
        for (edge, target) in targets[node].iter().enumerate() {
            if let Some(t) = *target
                && !back[node][edge]
            {
                layer[t] = layer[t].max(layer[node] + 1);
            }
        }
    }
    (layer, back)
}

/// Sizes the states of `scope` (their ids under `prefix`, inside the box `parent`) and adds
/// their arrows; returns the scope's states as one area, layer below layer.
fn lay_scope(scope: &Scope, prefix: &str, parent: Option<&str>, graph: &mut Graph) -> Area {
    let (layers, back) = rank(scope);
    let id_of = |name: &str| format!("{prefix}{name}");
    let depth = layers.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<(usize, Area)>> = (0..depth).map(|_| Vec::new()).collect();
    for (i, state) in scope.states.iter().enumerate() {
        rows[layers[i]].push(lay_state(state, &id_of(&state.name), parent, graph));
        for (edge, (target, kind)) in transitions(state).into_iter().enumerate() {
            if scope.state(target).is_some() {
                graph.edges.push(Edge {
                    from: id_of(&state.name),
                    to: id_of(target),
                    kind,
                    back: back[i][edge],
                });
            }
        }
    }
    let size = |node: usize| (graph.nodes[node].w, graph.nodes[node].h);
    let row_width = |row: &[(usize, Area)]| {
        row.iter().map(|(n, _)| size(*n).0).sum::<f64>()
            + GAP_X * row.len().saturating_sub(1) as f64
    };
    let width = rows.iter().map(|r| row_width(r)).fold(0.0, f64::max);
    let mut area = Area {
        w: width,
        ..Area::default()
    };
    let mut y = 0.0;
    for row in rows {
        let height = row.iter().map(|(n, _)| size(*n).1).fold(0.0, f64::max);
        let mut x = (width - row_width(&row)) / 2.0;
        for (node, inner) in row {
            let (w, h) = size(node);
            area.boxes.push(Placed {
                node,
                dx: x,
                dy: y + (height - h) / 2.0,
                inner,
            });
            x += w + GAP_X;
        }
        y += height + GAP_Y;
    }
    area.h = (y - GAP_Y).max(0.0);
    area
}

/// Adds the node of one state and those it holds, its box sized to hold them; returns the
/// node and the area inside its box.
fn lay_state(state: &State, id: &str, parent: Option<&str>, graph: &mut Graph) -> (usize, Area) {
    let index = graph.nodes.len();
    graph.nodes.push(Node {
        id: id.to_string(),
        name: state.name.clone(),
        kind: state.type_name(),
        parent: parent.map(str::to_string),
        distributed: matches!(&state.kind, StateKind::Map(m) if m.distributed),
        x: 0.0,
        y: 0.0,
        w: STATE_W,
        h: STATE_H,
    });
    let parts: Vec<Area> = match &state.kind {
        StateKind::Parallel { branches } => branches
            .iter()
            .enumerate()
            .map(|(b, scope)| lay_branch(scope, id, b, graph))
            .collect(),
        StateKind::Map(map) => vec![lay_scope(
            &map.processor,
            &format!("{id}/"),
            Some(id),
            graph,
        )],
        _ => return (index, Area::default()),
    };
    let inner = side_by_side(parts);
    graph.nodes[index].w = inner.w;
    graph.nodes[index].h = inner.h;
    (index, inner)
}

/// One branch of a Parallel state: an area holding the branch's box, which holds the branch's
/// states.
fn lay_branch(scope: &Scope, parallel: &str, branch: usize, graph: &mut Graph) -> Area {
    let id = format!("{parallel}/{branch}");
    let index = graph.nodes.len();
    graph.nodes.push(Node {
        id: id.clone(),
        name: format!("Branch {branch}"),
        kind: "Branch",
        parent: Some(parallel.to_string()),
        distributed: false,
        x: 0.0,
        y: 0.0,
        w: 0.0,
        h: 0.0,
    });
    let inner = side_by_side(vec![lay_scope(scope, &format!("{id}/"), Some(&id), graph)]);
    let (w, h) = (inner.w, inner.h);
    graph.nodes[index].w = w;
    graph.nodes[index].h = h;
    Area {
        boxes: vec![Placed {
            node: index,
            dx: 0.0,
            dy: 0.0,
            inner,
        }],
        w,
        h,
    }
}

/// The area inside a compound box: `parts` side by side, below a title, within a margin.
fn side_by_side(parts: Vec<Area>) -> Area {
    let mut area = Area::default();
    let mut x = PAD;
    let mut height: f64 = 0.0;
    for part in parts {
        for b in part.boxes {
            area.boxes.push(Placed {
                dx: x + b.dx,
                dy: HEADER + b.dy,
                ..b
            });
        }
        x += part.w + GAP_X;
        height = height.max(part.h);
    }
    area.w = (x - GAP_X + PAD).max(STATE_W);
    area.h = HEADER + height + PAD;
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(asl: Value) -> Graph {
        let definition = sluice_lang::compile::compile("flow.json", &asl.to_string()).unwrap();
        Graph::of(&definition)
    }

    fn node<'g>(g: &'g Graph, id: &str) -> &'g Node {
        g.nodes.iter().find(|n| n.id == id).unwrap()
    }

    #[test]
    fn a_state_sits_below_every_state_leading_to_it_and_loops_point_back() {
        let g = graph(json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "Pick"},
                "Pick": {"Type": "Choice", "Choices": [
                    {"Variable": "$.x", "IsPresent": true, "Next": "B"}
                ], "Default": "A"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Succeed"}
            }
        }));
        let ys: Vec<f64> = ["A", "Pick", "B", "C"]
            .iter()
            .map(|id| node(&g, id).y)
            .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        let back: Vec<(&str, &str)> = g
            .edges
            .iter()
            .filter(|e| e.back)
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(back, [("Pick", "A")]);
        let kinds: Vec<&str> = g.edges.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["next", "choice", "default", "next"]);
    }

    #[test]
    fn parallel_branches_and_map_processors_are_boxes_inside_their_state() {
        let g = graph(json!({
            "StartAt": "P",
            "States": {
                "P": {"Type": "Parallel", "Branches": [
                    {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
                    {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Y", "States": {"Y": {"Type": "Pass", "End": true}}
                    }, "End": true}}}
                ], "End": true}
            }
        }));
        let inside = |child: &str, parent: &str| {
            let (c, p) = (node(&g, child), node(&g, parent));
            c.x >= p.x && c.y >= p.y && c.x + c.w <= p.x + p.w && c.y + c.h <= p.y + p.h
        };
        assert_eq!(node(&g, "P/1").kind, "Branch");
        assert!(node(&g, "P/1/M").distributed);
        assert!(inside("P/0", "P") && inside("P/1", "P"));
        assert!(inside("P/0/X", "P/0") && inside("P/1/M", "P/1") && inside("P/1/M/Y", "P/1/M"));
        let (b0, b1) = (node(&g, "P/0"), node(&g, "P/1"));
        assert!(b0.x + b0.w <= b1.x, "branches side by side");
        assert_eq!(node(&g, "P/1/M/Y").parent.as_deref(), Some("P/1/M"));
    }
}
