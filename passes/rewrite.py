"""Pattern rewriting: small local rules and a greedy worklist driver.

    @pattern("core.identity")
    def drop_identity(node, rw):
        if not rw.can_replace(node.output, node.inputs[0]):
            return rw.why_not("its output is a graph output that would lose its name")
        rw.replace_node(node, [node.inputs[0]])
        return True

    result = apply_patterns_greedily(graph, [drop_identity])
    assert result.converged

Patterns change the graph only through the ``Rewriter`` they are handed, so
the driver knows what to look at again: new nodes, changed nodes and the users
of replaced values are re-queued. Nested regions are rewritten too. The
driver stops after ``max_iterations`` sweeps (or a rewrite budget) and says
so in ``RewriteResult.converged`` instead of looping forever.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from litesmith.ir.builder import Builder
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, IRError, Node, Value
from litesmith.ir.registry import check_op_name

from .effects import is_pure

__all__ = [
    "RewritePattern", "pattern", "Rewriter", "RewriteResult", "MatchFailure", "PatternError",
    "PatternSet", "apply_patterns_greedily", "replace_value", "can_replace",
]


class RewritePattern:
    """A local rewrite rooted at nodes of op ``op`` (or any node when ``op`` is None)."""

    op: Optional[str] = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def match_and_rewrite(self, node: Node, rw: "Rewriter") -> bool:
        """Rewrite ``node`` through ``rw`` and return True, or leave the graph untouched and return False."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<pattern {self.name} on {self.op or 'any op'}>"


class _FunctionPattern(RewritePattern):
    def __init__(self, fn: Callable[[Node, "Rewriter"], bool], op: Optional[str], name: Optional[str] = None):
        if op is not None:
            check_op_name(op)  # a misspelt root would silently never fire
        self.fn = fn
        self.op = op
        self._name = name or getattr(fn, "__name__", "pattern")
        self.__doc__ = fn.__doc__

    @property
    def name(self) -> str:
        return self._name

    def match_and_rewrite(self, node: Node, rw: "Rewriter") -> bool:
        return bool(self.fn(node, rw))

    def __call__(self, node: Node, rw: "Rewriter") -> bool:
        return self.match_and_rewrite(node, rw)


def pattern(op: Optional[str] = None, *, name: Optional[str] = None):
    """Decorator: ``fn(node, rw) -> bool`` becomes a ``RewritePattern`` rooted at ``op``."""

    def wrap(fn):
        return _FunctionPattern(fn, op, name)

    return wrap


def as_pattern(obj, op: Optional[str] = None) -> RewritePattern:
    """A pattern from a RewritePattern, or a plain ``fn(node, rw)`` rooted at ``op``."""
    if isinstance(obj, RewritePattern):
        return obj
    if callable(obj):
        return _FunctionPattern(obj, op)
    raise TypeError(f"not a rewrite pattern: {obj!r}")


# -- replacing values while keeping graph output names -----------------------------


def _top_level_output(v: Value) -> bool:
    g = v.owner_graph
    return g is not None and g.parent is None and v.is_graph_output()


def can_replace(old: Value, new: Value) -> bool:
    """True when ``old`` can be replaced by ``new`` without an identity node to keep an output name.

    The names of a top-level graph's outputs are its interface; a value can
    take over the name unless it is a graph input or already another output.
    """
    if not _top_level_output(old) or new.name == old.name:
        return True
    return new.producer is not None and not _top_level_output(new)


def replace_value(old: Value, new: Value) -> List[Node]:
    """Point all uses of ``old`` (graph outputs included) at ``new``; return the nodes now using ``new``.

    A top-level graph output keeps its name: ``new`` takes it over, or (see
    ``can_replace``) a ``core.identity`` carrying the name is appended. An
    unnamed ``new`` inherits ``old``'s name in any case.
    """
    if old is new:
        return []
    users = [u.node for u in old.uses()]
    if _top_level_output(old) and new.name != old.name:
        g = old.owner_graph
        if can_replace(old, new):
            new.name, old.name = old.name, ""
        else:
            ident = Builder(g).create("core.identity", [new], name=old.name)
            old.name = ""
            g.outputs = [ident.output if o is old else o for o in g.outputs]
            users.append(ident)
    elif not new.name and new.producer is not None:
        new.name = old.name  # keep names readable (and TF-traceable) through rewrites
    old.replace_all_uses_with(new)
    return users


# -- the rewriter handed to patterns ----------------------------------------------------


@dataclass(frozen=True)
class MatchFailure:
    """Why a pattern did not apply to a node (recorded when tracing)."""

    pattern: str
    node: str
    reason: str


class PatternError(RuntimeError):
    """A pattern raised an exception (a bug in the pattern); names the pattern and the node."""


class _TrackingBuilder(Builder):
    def __init__(self, rw: "Rewriter", graph: Graph, before=None, after=None):
        super().__init__(graph, before=before, after=after)
        self._rw = rw

    def insert(self, node: Node) -> Node:
        node = super().insert(node)
        self._rw._touched(node)
        return node


class Rewriter:
    """The only way patterns change the graph; tells the driver what to look at again."""

    def __init__(self, on_touch: Callable[[Node], None] = lambda n: None, trace: Optional[List[MatchFailure]] = None):
        self._on_touch = on_touch
        self._trace = trace
        self.pattern: Optional[RewritePattern] = None
        self.node: Optional[Node] = None

    def _touched(self, node: Node) -> None:
        self._on_touch(node)

    def builder(self, before: Optional[Node] = None, after: Optional[Node] = None, graph: Optional[Graph] = None) -> Builder:
        """A Builder inserting before/after a node (default: before the node being rewritten)."""
        if before is None and after is None:
            before = self.node
        anchor = before if before is not None else after
        g = graph or (anchor.graph if anchor is not None else None)
        if g is None:
            raise IRError("Rewriter.builder needs a node that is in a graph")
        b = _TrackingBuilder(self, g, before=before, after=after)
        if anchor is not None and anchor.meta.get("source"):
            b.meta = {"source": anchor.meta["source"]}  # new nodes inherit provenance
        return b

    def can_replace(self, old: Value, new: Value) -> bool:
        return can_replace(old, new)

    def replace_value(self, old: Value, new: Value) -> None:
        """Replace all uses of ``old`` by ``new`` (graph output names are kept)."""
        producer = old.producer
        for user in replace_value(old, new):
            self._touched(user)
        if producer is not None and producer.graph is not None:
            self._touched(producer)  # it may be dead now

    def replace_node(self, node: Node, new_values: Sequence[Value]) -> None:
        """Replace each output of ``node`` by the matching new value, then erase ``node``."""
        if len(new_values) != len(node.outputs):
            raise IRError(f"replace_node({node!r}): {len(new_values)} values for {len(node.outputs)} outputs")
        for old, new in zip(node.outputs, new_values):
            for user in replace_value(old, new):
                self._touched(user)
        self.erase(node)

    def erase(self, node: Node) -> None:
        """Remove ``node`` (its outputs must be unused); its producers are looked at again."""
        producers = [v.producer for v in node.inputs if v.producer is not None]
        node.graph.remove(node)
        for p in producers:
            if p.graph is not None:
                self._touched(p)

    def notify_changed(self, node: Node) -> None:
        """Call after changing a node in place (attrs, inputs); it and its users are looked at again."""
        self._touched(node)
        for v in node.outputs:
            for u in v.uses():
                self._touched(u.node)

    def why_not(self, reason: str) -> bool:
        """Record why the current pattern does not apply (when tracing); returns False."""
        if self._trace is not None and self.pattern is not None:
            self._trace.append(MatchFailure(self.pattern.name, repr(self.node), reason))
        return False


# -- the greedy driver ----------------------------------------------------------------


class PatternSet:
    """Patterns indexed by root op; subclasses may find an op's patterns lazily (see ``for_op``)."""

    def __init__(self, patterns: Iterable = ()):
        self._by_op: Dict[Optional[str], List[RewritePattern]] = {}
        for p in patterns:
            p = as_pattern(p)
            if p.op is not None:
                check_op_name(p.op)
            self._by_op.setdefault(p.op, []).append(p)

    def for_op(self, op: str) -> List[RewritePattern]:
        """The patterns to try on a node of ``op``: those rooted at it, then the op-agnostic ones."""
        return self._by_op.get(op, []) + self._by_op.get(None, [])



@dataclass
class RewriteResult:
    changed: bool = False
    converged: bool = True
    iterations: int = 0
    applied: Counter = field(default_factory=Counter)  # pattern name -> times applied ("dead" = erased unused nodes)
    why_not: List[MatchFailure] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.changed


def apply_patterns_greedily(
    graph: Graph,
    patterns: Iterable,
    *,
    max_iterations: int = 10,
    max_rewrites: Optional[int] = None,
    erase_dead: bool = True,
    trace: bool = False,
) -> RewriteResult:
    """Apply ``patterns`` anywhere in ``graph`` (regions included) until none applies.

    One iteration seeds the worklist with every node and drains it (re-queued
    nodes included); iterations repeat until one changes nothing. After
    ``max_iterations`` iterations, or ``max_rewrites`` rewrites in one
    iteration (default: 10 per node + 100), the result has ``converged=False``.
    ``erase_dead`` also erases pure nodes whose outputs became unused.
    ``trace`` collects ``rw.why_not`` reasons in ``result.why_not``.
    """
    pset = patterns if isinstance(patterns, PatternSet) else PatternSet(patterns)
    result = RewriteResult()
    queue: deque = deque()
    queued: set = set()

    def touch(node: Node) -> None:
        if id(node) not in queued:
            queued.add(id(node))
            queue.append(node)

    rw = Rewriter(touch, result.why_not if trace else None)
    patterns_of: Dict[str, List[RewritePattern]] = {}  # op -> pset.for_op(op), asked once per op
    pure_op: Dict[str, bool] = {}  # op -> declared pure (nodes without regions)

    def dead(node: Node) -> bool:  # effects.is_trivially_dead with the op's purity looked up once
        outputs_of = node.graph._output_counts
        for v in node.outputs:
            if v._uses or outputs_of.get(v._id):
                return False
        if node.regions:
            return is_pure(node)
        pure = pure_op.get(node.op)
        if pure is None:
            pure = pure_op[node.op] = is_pure(node)
        return pure

    for iteration in range(1, max_iterations + 1):
        result.iterations = iteration
        seeds = list(graph.walk())  # the queue is empty here: every node once, in graph order
        queue.extend(seeds)
        queued.update(map(id, seeds))
        del seeds
        budget = max_rewrites if max_rewrites is not None else 10 * len(queue) + 100
        changed = False
        while queue:
            node = queue.popleft()
            queued.discard(id(node))
            if node.graph is None:
                continue  # erased since it was queued
            if erase_dead and dead(node):
                rw.node = node
                rw.erase(node)
                result.applied["dead"] += 1
                changed = True
                continue
            patterns = patterns_of.get(node.op)
            if patterns is None:
                patterns = patterns_of[node.op] = pset.for_op(node.op)
            for p in patterns:
                rw.pattern, rw.node = p, node
                if _apply(p, node, rw):
                    result.applied[p.name] += 1
                    changed = True
                    budget -= 1
                    if node.graph is not None:
                        touch(node)
                    break
            if budget < 0:
                result.changed = True
                result.converged = False
                queue.clear()
                queued.clear()
                return result
        rw.pattern = rw.node = None
        result.changed |= changed
        if not changed:
            result.converged = True
            return result
    result.converged = False
    return result


def _apply(p: RewritePattern, node: Node, rw: Rewriter) -> bool:
    try:
        return bool(p.match_and_rewrite(node, rw))
    except UserError:
        raise
    except Exception as e:
        raise PatternError(f"pattern {p.name} failed on {node.op} {node.name!r}: {type(e).__name__}: {e}") from e
