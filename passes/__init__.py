"""litesmith.passes: the pass base class, registry, pipelines, pattern rewriter and pass manager.

    from litesmith.passes import run_pipeline
    report = run_pipeline(graph, "canonicalize,fold-constants,dce", verify_each=True)

Built-in passes live one per module (``dce``, ``cse``, ``canonicalize``,
``fold_constants``) and are imported only when a pipeline names them.
"""
from .manager import PassManager, PassRunReport, PipelineError, run_pipeline
from .pass_base import Pass, PassContext
from .pipeline import parse_pipeline
from .registry import get_pass, list_passes, register_pass
from .rewrite import RewritePattern, RewriteResult, Rewriter, apply_patterns_greedily, pattern

__all__ = [
    "Pass", "PassContext", "PassManager", "PassRunReport", "PipelineError", "RewritePattern", "RewriteResult",
    "Rewriter", "apply_patterns_greedily", "get_pass", "list_passes", "parse_pipeline", "pattern",
    "register_pass", "run_pipeline",
]
